"""Running the operator's `ixo` command in tests as a user runs it: a subprocess."""

from __future__ import annotations

import asyncio
import subprocess
import sys


def ixo(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``ixo ARGS`` with ``env`` (the test's ``IXO_*`` settings); its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def aixo(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """:func:`ixo` from a coroutine: the command runs in a thread, so the test's event loop (and
    any consumer app running in it, with its heartbeats) keeps going meanwhile."""
    return await asyncio.to_thread(ixo, env, *args, timeout=timeout)
