"""The web gateway (FastAPI): ``create_app(settings)``; ``ixo run gateway`` serves it."""

from producers.gateway._app import SOURCE, create_app

__all__ = ["SOURCE", "create_app"]
