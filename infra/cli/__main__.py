"""``python -m infra.cli``: the same as the ``ixo`` command (``ixo up`` runs children this way)."""

from infra.cli import main

main()
