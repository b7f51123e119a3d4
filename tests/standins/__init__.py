"""Local stand-ins for third-party APIs: real HTTP servers that speak the real wire protocols,
scripted by the tests (DESIGN.md: our own infrastructure is never mocked; what we cannot reach
is replaced by a local server). Import each from its module, e.g.
``from tests.standins.openai_server import OpenAIStandIn``."""
