"""Run child processes in the foreground, like foreman/honcho: prefix their output, stop together.

Each child gets its own session (so a Ctrl-C in the terminal reaches only us), its stdout and
stderr merged and forwarded line by line. SIGINT/SIGTERM, or any child exiting, stops the rest:
SIGTERM to each child's process group, a grace period, then SIGKILL. A second Ctrl-C skips the
grace period. A child may carry a readiness probe (an HTTP health check, say); once every probe
has answered, ``on_ready`` is called once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LINE_LIMIT = 1024 * 1024
STOP_TIMEOUT_S = 20.0
READY_POLL_S = 0.25

Probe = Callable[[], Awaitable[bool]]
"""True once a child answers (an exception counts as not yet)."""


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    ready: Probe | None = None
    """None: the child counts as ready once started."""


@dataclass
class Outcome:
    """How supervision ended: ``interrupted`` by a signal, or ``failed`` children with codes."""

    interrupted: bool = False
    failed: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int | None] = field(default_factory=dict)


LineSink = Callable[[str, str], None]
EventSink = Callable[[str], None]
StartSink = Callable[[str, int], None]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _pump(name: str, stream: asyncio.StreamReader, on_line: LineSink) -> None:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line longer than the limit: forward what we have
            raw = await stream.read(LINE_LIMIT)
        if not raw:
            return
        on_line(name, raw.decode("utf-8", "replace").rstrip("\r\n"))


async def supervise(
    children: Sequence[ChildSpec],
    *,
    on_line: LineSink,
    on_event: EventSink,
    stop_timeout: float = STOP_TIMEOUT_S,
    install_signals: bool = True,
    stop: asyncio.Event | None = None,
    on_started: StartSink | None = None,
    on_ready: Callable[[], None] | None = None,
    ready_poll: float = READY_POLL_S,
) -> Outcome:
    """Start ``children`` and forward their lines until a signal, ``stop``, or a child exits.

    ``on_started(name, pid)`` is called as each child starts; ``on_ready()`` once every child
    has started and every readiness probe answered (never if the run ends before)."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    force = asyncio.Event()
    outcome = Outcome()
    signals = (signal.SIGINT, signal.SIGTERM) if install_signals else ()

    def on_signal() -> None:
        if stop.is_set():
            force.set()
        else:
            outcome.interrupted = True
            stop.set()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    procs: dict[str, asyncio.subprocess.Process] = {}
    pumps: list[asyncio.Task[None]] = []
    waits: dict[str, asyncio.Task[int]] = {}
    readiness: asyncio.Task[None] | None = None
    try:
        for child in children:
            proc = await asyncio.create_subprocess_exec(
                *child.argv,
                env=dict(child.env) if child.env is not None else None,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                limit=LINE_LIMIT,
            )
            procs[child.name] = proc
            on_event(f"{child.name}: started (pid {proc.pid})")
            if on_started is not None:
                on_started(child.name, proc.pid)
            assert proc.stdout is not None
            pumps.append(asyncio.create_task(_pump(child.name, proc.stdout, on_line)))
            waits[child.name] = asyncio.create_task(proc.wait())
        if on_ready is not None:
            readiness = asyncio.create_task(_await_ready(children, ready_poll, on_ready))
        stopping: asyncio.Task[Any] = asyncio.create_task(stop.wait())
        watched: list[asyncio.Task[Any]] = [stopping, *waits.values()]
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if readiness is not None:
            readiness.cancel()
        for name, task in waits.items():
            if task.done() and not stop.is_set():
                outcome.failed[name] = task.result()
        await _stop_all(procs, waits, stop_timeout, force, on_event)
        if pumps:
            await asyncio.wait(pumps, timeout=5.0)
    finally:
        if readiness is not None:
            readiness.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
        for proc in procs.values():
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGKILL)
        for pump in pumps:
            pump.cancel()
    outcome.codes = {name: proc.returncode for name, proc in procs.items()}
    return outcome


async def _await_ready(
    children: Sequence[ChildSpec], poll: float, on_ready: Callable[[], None]
) -> None:
    for child in children:
        if child.ready is None:
            continue
        while True:
            if await _probe(child.ready):
                break
            await asyncio.sleep(poll)  # polling a probe: there is no event to wait on
    on_ready()


async def _probe(probe: Probe) -> bool:
    try:
        return await probe()
    except Exception:  # not answering yet
        return False


async def _stop_all(
    procs: dict[str, asyncio.subprocess.Process],
    waits: dict[str, asyncio.Task[int]],
    timeout: float,
    force: asyncio.Event,
    on_event: EventSink,
) -> None:
    running = {name: proc for name, proc in procs.items() if proc.returncode is None}
    for name, proc in running.items():
        on_event(f"{name}: stopping (SIGTERM)")
        _signal_group(proc.pid, signal.SIGTERM)
    if running:
        forced = asyncio.create_task(force.wait())
        stopped: asyncio.Future[list[int]] = asyncio.gather(*(waits[name] for name in running))
        either: list[asyncio.Future[Any]] = [forced, stopped]
        await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
    for name, proc in running.items():
        if proc.returncode is None:
            on_event(f"{name}: did not stop in time, killing (SIGKILL)")
            _signal_group(proc.pid, signal.SIGKILL)
            await waits[name]
        else:
            on_event(f"{name}: stopped (exit {proc.returncode})")
