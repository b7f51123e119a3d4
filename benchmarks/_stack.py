"""The services a benchmark runs against: a fresh local stack, or the one IXO_* points at."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.settings import Settings


@contextlib.contextmanager
def bench_settings(name: str) -> Iterator[Settings]:
    """Settings with a unique topic prefix and database.

    With ``IXO_BENCH_STACK=external`` the ``IXO_*`` variables name the services; otherwise a
    local stack starts on free ports in a temporary directory and stops afterwards.
    """
    run = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    if os.environ.get("IXO_BENCH_STACK") == "external":
        base = Settings()
        yield base.model_copy(update={"topic_prefix": f"{run}.", "mongodb_database": run})
        return
    from infra.stack import LocalStack, StackPorts

    with tempfile.TemporaryDirectory(prefix="ixo-bench-") as tmp:
        stack = LocalStack(Path(tmp), StackPorts.free())
        stack.up()
        try:
            env = stack.env()
            yield Settings(
                kafka_bootstrap=env["IXO_KAFKA_BOOTSTRAP"],
                mongodb_url=env["IXO_MONGODB_URL"],
                redis_url=env["IXO_REDIS_URL"],
                topic_prefix=f"{run}.",
                mongodb_database=run.replace("-", "_"),
            )
        finally:
            stack.down()


def result_line(bench: str, ours: float, baseline: float, unit: str) -> str:
    ratio = ours / baseline if baseline else 0.0
    return (
        f"RESULT bench={bench} ours={ours:.1f} baseline={baseline:.1f} unit={unit} "
        f"ratio={ratio:.3f}"
    )


async def wait_assigned(app: Any, *, timeout_s: float = 60.0) -> None:
    """Until every subscriber of the FastStream ``app`` has partitions (a group join takes
    seconds); measuring starts after that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        subs: list[Any] = list(app.broker.subscribers)
        if all(s.consumer is not None and s.consumer.assignment() for s in subs):
            return
        await asyncio.sleep(0.1)
    msg = f"the app's consumers got no partitions within {timeout_s:g} s"
    raise RuntimeError(msg)


async def settle_redis(client: Any, *, timeout_s: float = 120.0) -> None:
    """Finish Redis's persistence work before measuring: an AOF rewrite and a snapshot (both
    fork the server and copy its pages) triggered by a benchmark's own set-up (100k rules
    written in seconds) would otherwise land in the measured window. Rewrites the AOF (if on)
    and saves a snapshot (if ``save`` is configured) now, and waits for both, so neither is due
    again during a run of a few tens of seconds (``save 60 10000``: not within 60 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s

    async def idle() -> None:
        while loop.time() < deadline:
            info = await client.info("persistence")
            busy = ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")
            if not any(int(info.get(k, 0)) for k in busy):
                return
            await asyncio.sleep(0.1)
        msg = f"Redis was still saving after {timeout_s:g} s"
        raise RuntimeError(msg)

    await idle()
    if int((await client.info("persistence")).get("aof_enabled", 0)):
        await client.bgrewriteaof()
        await idle()
    if (await client.config_get("save")).get("save"):
        await client.bgsave()
        await idle()
