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
RESTART_DELAY_S = 1.0
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0

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
    restart: bool = False,
    restart_delay: float = RESTART_DELAY_S,
) -> Outcome:
    """Start ``children`` and forward their lines until a signal, ``stop``, or a child exits.

    ``on_started(name, pid)`` is called as each child starts; ``on_ready()`` once every child
    has started and every readiness probe answered (never if the run ends before).

    With ``restart``, a child that exits by itself is started again after ``restart_delay``
    (the replicas of a consumer: the group rebalances, nothing else stops), unless it exited
    ``MAX_RESTARTS`` times within ``RESTART_WINDOW_S``: then it counts as failed."""
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
    run = _Children(on_line, on_event, on_started)
    readiness: asyncio.Task[None] | None = None
    try:
        for child in children:
            await run.start(child)
        if on_ready is not None:
            readiness = asyncio.create_task(_await_ready(children, ready_poll, on_ready))
        await run.watch(children, stop, outcome, restart=restart, restart_delay=restart_delay)
        if readiness is not None:
            readiness.cancel()
        await _stop_all(run.procs, run.waits, stop_timeout, force, on_event)
        if run.pumps:
            await asyncio.wait(run.pumps, timeout=5.0)
    finally:
        if readiness is not None:
            readiness.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
        for proc in run.procs.values():
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGKILL)
        for pump in run.pumps:
            pump.cancel()
    outcome.codes = {name: proc.returncode for name, proc in run.procs.items()}
    return outcome


class _Children:
    """The running children of one supervision: their processes, output pumps and exits."""

    def __init__(
        self, on_line: LineSink, on_event: EventSink, on_started: StartSink | None
    ) -> None:
        self.on_line = on_line
        self.on_event = on_event
        self.on_started = on_started
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.pumps: list[asyncio.Task[None]] = []
        self.waits: dict[str, asyncio.Task[int]] = {}
        self.exits: dict[str, list[float]] = {}

    async def start(self, child: ChildSpec) -> None:
        proc = await asyncio.create_subprocess_exec(
            *child.argv,
            env=dict(child.env) if child.env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
        self.procs[child.name] = proc
        self.on_event(f"{child.name}: started (pid {proc.pid})")
        if self.on_started is not None:
            self.on_started(child.name, proc.pid)
        assert proc.stdout is not None
        self.pumps.append(asyncio.create_task(_pump(child.name, proc.stdout, self.on_line)))
        self.waits[child.name] = asyncio.create_task(proc.wait())

    def gives_up(self, name: str) -> bool:
        """Record an exit of ``name``; True past ``MAX_RESTARTS`` in ``RESTART_WINDOW_S``."""
        now = asyncio.get_running_loop().time()
        recent = [t for t in self.exits.get(name, []) if now - t < RESTART_WINDOW_S] + [now]
        self.exits[name] = recent
        return len(recent) > MAX_RESTARTS

    async def watch(
        self,
        children: Sequence[ChildSpec],
        stop: asyncio.Event,
        outcome: Outcome,
        *,
        restart: bool,
        restart_delay: float,
    ) -> None:
        """Until a stop, or a child exits and is not started again."""
        by_name = {child.name: child for child in children}
        while True:
            stopping: asyncio.Task[Any] = asyncio.create_task(stop.wait())
            watched: list[asyncio.Task[Any]] = [stopping, *self.waits.values()]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set():
                return
            exited = [name for name, task in self.waits.items() if task.done()]
            if not restart or any(self.gives_up(name) for name in exited):
                for name in exited:
                    outcome.failed[name] = self.waits[name].result()
                return
            for name in exited:
                self.on_event(f"{name}: exited (code {self.waits[name].result()}); restarting")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), restart_delay)
            if stop.is_set():
                return
            for name in exited:
                await self.start(by_name[name])


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
