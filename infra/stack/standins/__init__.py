"""Local stand-ins for the third-party APIs the platform talks to: real HTTP servers that speak
the real wire protocols of the Telegram Bot API, the Discord REST API and the OpenAI Chat
Completions API, scripted by their caller. They belong to the local stack: the tests, the
benchmarks and a local run use them where the real service cannot be reached (our own
infrastructure is never mocked; what we cannot reach is replaced by a local server).

Each serves on loopback through :class:`LocalServer` (uvicorn on a socket bound up front), the
one helper every local HTTP server of the tests and benchmarks starts with::

    async with TelegramStandin() as tg: ...      # in the running event loop
    with OpenAIStandIn() as llm: ...             # in a thread (synchronous callers)
    async with LocalServer(app, lifespan="on") as server: ...   # any ASGI app
"""

from infra.stack.standins._discord import DiscordCall, DiscordStandin
from infra.stack.standins._openai import OpenAIStandIn, ScriptedCall, ScriptedReply, call
from infra.stack.standins._server import LOOPBACK, LocalServer, free_port
from infra.stack.standins._telegram import TelegramCall, TelegramStandin
from infra.stack.standins._x import XRequest, XStandin

__all__ = [
    "LOOPBACK",
    "DiscordCall",
    "DiscordStandin",
    "LocalServer",
    "OpenAIStandIn",
    "ScriptedCall",
    "ScriptedReply",
    "TelegramCall",
    "TelegramStandin",
    "XRequest",
    "XStandin",
    "call",
    "free_port",
]
