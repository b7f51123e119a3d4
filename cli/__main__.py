"""``python -m cli``: the same as the ``ixo`` command (``ixo up`` runs children this way)."""

from cli import main

main()
