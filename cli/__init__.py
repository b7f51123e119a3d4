"""The ``ixo`` command: the operator's tool (Typer + rich).

``main`` is the console-script entry point; ``app`` the Typer application (for tests:
``typer.testing.CliRunner().invoke(app, [...])``); ``COMPONENTS`` the registry of components
``ixo run`` and ``ixo up`` know.
"""

from cli._app import app, main
from cli._components import COMPONENTS, Component

__all__ = ["COMPONENTS", "Component", "app", "main"]
