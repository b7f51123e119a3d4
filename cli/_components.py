"""The registry of runnable components: the names ``ixo run`` takes and ``ixo up`` starts.

Every component of DESIGN.md is listed; one that is implemented has a ``runner``, a function
that runs it in the foreground until SIGTERM/SIGINT. Only those are offered (help, errors);
the others keep their names reserved. To add a component, give its entry a runner here
(import the component lazily inside the runner, so ``ixo`` starts fast).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka.errors import KafkaConnectionError

from cli._errors import CommandError, UsageError
from infra.logs import configure_for
from infra.settings import Settings

if TYPE_CHECKING:
    from faststream import FastStream

Runner = Callable[[Settings], None]
Requirement = Callable[[Settings], str | None]
"""Why a component cannot run with these settings (``ixo up`` skips it), or None."""


def _nothing_missing(_: Settings) -> str | None:
    return None


@dataclass(frozen=True)
class Component:
    name: str
    summary: str
    runner: Runner | None = None
    requires: Requirement = _nothing_missing

    @property
    def available(self) -> bool:
        return self.runner is not None


def _needs_telegram(settings: Settings) -> str | None:
    return None if settings.telegram_token.get_secret_value() else "IXO_TELEGRAM_TOKEN is not set"


def _needs_discord(settings: Settings) -> str | None:
    if settings.discord_token.get_secret_value() and settings.discord_public_key:
        return None
    return "IXO_DISCORD_TOKEN and IXO_DISCORD_PUBLIC_KEY are not set"


def _needs_x(settings: Settings) -> str | None:
    if settings.x_source != "api":
        return None
    if not settings.x_bearer_token.get_secret_value():
        return "IXO_X_BEARER_TOKEN is not set (or set IXO_X_SOURCE=sample or file:PATH)"
    if not (settings.x_queries or settings.x_user_ids):
        return "neither IXO_X_QUERIES nor IXO_X_USER_IDS is set"
    return None


def run_faststream(build: Callable[[Settings], FastStream], settings: Settings) -> None:
    """Run a FastStream app until SIGTERM/SIGINT (FastStream handles both and stops cleanly)."""
    from infra.runtime import tune_gc

    configure_for(settings)
    tune_gc()
    app = build(settings)
    try:
        asyncio.run(app.run())
    except KafkaConnectionError as exc:
        msg = f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        raise CommandError(msg) from None


def _projector(settings: Settings) -> None:
    from consumers.projector.app import build_app

    run_faststream(build_app, settings)


def _rule_engine(settings: Settings) -> None:
    from consumers.rule_engine.app import build_app

    run_faststream(build_app, settings)


def _scheduler(settings: Settings) -> None:
    from consumers.scheduler.app import build_app

    run_faststream(build_app, settings)


def _notifier(settings: Settings) -> None:
    from consumers.notifier.app import build_app

    run_faststream(build_app, settings)


def _orchestrator(settings: Settings) -> None:
    from consumers.orchestrator.app import build_app

    run_faststream(build_app, settings)


def _chain_rules(settings: Settings) -> None:
    from consumers.chain_rules.app import build_app

    run_faststream(build_app, settings)


def _needs_rag(_: Settings) -> str | None:
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is None:
        return "the rag extra is not installed (pip install 'impressox[rag]')"
    return None


def _embedder(settings: Settings) -> None:
    from consumers.embedder.app import (
        ModelMismatch,
        ModelUnavailable,
        StoreUnavailable,
        build_app,
    )

    try:
        run_faststream(build_app, settings)
    except (ModelMismatch, ModelUnavailable, StoreUnavailable) as exc:
        raise CommandError(str(exc)) from None


def _gateway(settings: Settings) -> None:
    import uvicorn

    from consumers.embedder.app import open_knowledge_search
    from infra.runtime import tune_gc
    from producers.gateway import create_app

    configure_for(settings)
    tune_gc()
    # uvicorn stops cleanly on SIGTERM/SIGINT (lifespan shutdown closes Kafka, MongoDB and the
    # knowledge search: the embedder's server, or the Qdrant server of IXO_QDRANT_URL).
    uvicorn.run(
        create_app(settings, knowledge=open_knowledge_search(settings)),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
    )


def _market_feed(settings: Settings) -> None:
    import signal

    from infra.runtime import tune_gc
    from producers.market import SourceError, parse_symbols, run_market_feed

    configure_for(settings)
    tune_gc()
    # "sample" (the bundled ticks, looped in real time, dated now) is a source of its own.
    source = settings.market_source

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_market_feed(settings, source, parse_symbols(settings.market_symbols), stop=stop)

    try:
        asyncio.run(main())
    except SourceError as exc:
        raise UsageError(str(exc)) from None


def _x_source(settings: Settings) -> None:
    import signal

    from infra.runtime import tune_gc
    from producers.x import XApiError, XFileError, XSourceError, run_x_source

    configure_for(settings)
    tune_gc()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_x_source(settings, stop)

    try:
        asyncio.run(main())
    except (XSourceError, XFileError) as exc:
        raise UsageError(str(exc)) from None
    except XApiError as exc:
        raise CommandError(str(exc)) from None


def _chain_listener(settings: Settings) -> None:
    import signal

    from consumers.chain_listener.app import run_chain_listener
    from infra.runtime import tune_gc

    configure_for(settings)
    tune_gc()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_chain_listener(settings, stop)

    asyncio.run(main())


def _bot(which: str) -> Runner:
    def run(settings: Settings) -> None:
        from bots import BotConfigError, run_discord_bot, run_telegram_bot
        from infra.runtime import tune_gc

        configure_for(settings)
        tune_gc()
        runner = run_telegram_bot if which == "telegram" else run_discord_bot
        try:
            asyncio.run(runner(settings))
        except BotConfigError as exc:
            raise CommandError(str(exc)) from None

    return run


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "gateway", "web gateway (FastAPI): events, chat, rules, topics over HTTP", _gateway
        ),
        Component("projector", "folds events into the MongoDB read models", _projector),
        Component("rule-engine", "matches price ticks against alert rules", _rule_engine),
        Component("orchestrator", "runs the LLM agent for chat requests", _orchestrator),
        Component(
            "notifier", "delivers alert matches to Telegram, Discord and webhooks", _notifier
        ),
        Component("scheduler", "emits scheduled events", _scheduler),
        Component(
            "embedder",
            "chunks and embeds posts and documents into Qdrant; answers knowledge searches",
            _embedder,
            _needs_rag,
        ),
        Component(
            "chain-listener",
            "follows smart-contract logs on the EVM chain (IXO_ETH_RPC_URL)",
            _chain_listener,
        ),
        Component(
            "chain-rules",
            "turns on-chain AlertRegistry alerts into alert rules (the chain as a client)",
            _chain_rules,
        ),
        Component("market-feed", "publishes market price ticks", _market_feed),
        Component(
            "x-source", "publishes posts from X (API, JSONL file or sample)", _x_source, _needs_x
        ),
        Component("telegram-bot", "the Telegram bot", _bot("telegram"), _needs_telegram),
        Component("discord-bot", "the Discord bot", _bot("discord"), _needs_discord),
    )
}


def available() -> list[Component]:
    """The components this version can run, in registry order."""
    return [c for c in COMPONENTS.values() if c.available]


def resolve(name: str) -> Component:
    """The component called ``name``; unknown or not yet available ones are usage errors."""
    component = COMPONENTS.get(name)
    names = ", ".join(c.name for c in available()) or "none"
    if component is None:
        msg = f"unknown component {name!r} (available: {names})"
        raise UsageError(msg)
    if not component.available:
        msg = f"component {name!r} is not available yet in this version (available: {names})"
        raise UsageError(msg)
    return component
