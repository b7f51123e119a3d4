"""``ixo up``'s supervisor: prefixed lines, stop on request, stop all when one child exits.

Children are small real Python processes (no services)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from cli._supervisor import ChildSpec, supervise


def py(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


SERVE = "import time\nprint('ready', flush=True)\nwhile True: time.sleep(0.1)"
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\nwhile True: time.sleep(0.1)"
)


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.events: list[str] = []
        self._arrived = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    def line(self, name: str, text: str) -> None:
        self.lines.append((name, text))
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.lines) >= count)


async def test_lines_are_forwarded_with_names_and_a_stop_ends_every_child() -> None:
    sink = Sink()
    stop = asyncio.Event()
    task = asyncio.create_task(
        supervise(
            [ChildSpec("alpha", py(SERVE)), ChildSpec("beta", py(SERVE))],
            on_line=sink.line,
            on_event=sink.events.append,
            install_signals=False,
            stop=stop,
        )
    )
    await sink.wait_for(2)
    stop.set()
    outcome = await asyncio.wait_for(task, 20)
    assert sorted(sink.lines) == [("alpha", "ready"), ("beta", "ready")]
    assert not outcome.failed
    assert all(code is not None for code in outcome.codes.values())
    assert any("alpha: stopping (SIGTERM)" in e for e in sink.events)


async def test_a_child_that_exits_stops_the_others_and_is_reported() -> None:
    sink = Sink()
    outcome = await asyncio.wait_for(
        supervise(
            [
                ChildSpec("worker", py(SERVE)),
                ChildSpec("broken", py("import sys\nprint('boom')\nsys.exit(3)")),
            ],
            on_line=sink.line,
            on_event=sink.events.append,
            install_signals=False,
        ),
        30,
    )
    assert outcome.failed == {"broken": 3}
    assert outcome.codes["worker"] is not None
    assert ("broken", "boom") in sink.lines


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    sink = Sink()
    stop = asyncio.Event()
    task = asyncio.create_task(
        supervise(
            [ChildSpec("stubborn", py(STUBBORN))],
            on_line=sink.line,
            on_event=sink.events.append,
            install_signals=False,
            stop=stop,
            stop_timeout=0.5,
        )
    )
    await sink.wait_for(1)
    stop.set()
    outcome = await asyncio.wait_for(task, 20)
    assert outcome.codes["stubborn"] == -9
    assert any("SIGKILL" in e for e in sink.events)


LISTENER = (
    "import os, socket, sys, time\n"
    "print('booting', flush=True)\n"
    "while not os.path.exists(sys.argv[2]): time.sleep(0.02)\n"  # listens once told to
    "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "print('listening', flush=True)\n"
    "while True: time.sleep(0.1)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for ``condition`` (a bound on a hang, not an assertion on speed)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def test_ready_is_announced_once_every_probe_answers_and_children_are_reported(
    tmp_path: Path,
) -> None:
    port = free_port()
    go = tmp_path / "go"
    sink = Sink()
    stop = asyncio.Event()
    started: list[tuple[str, int]] = []
    ready: list[int] = []
    probes: list[bool] = []

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            probes.append(False)
            return False
        writer.close()
        probes.append(True)
        return True

    task = asyncio.create_task(
        supervise(
            [
                ChildSpec("plain", py(SERVE)),
                ChildSpec("server", [*py(LISTENER), str(port), str(go)], ready=listening),
            ],
            on_line=sink.line,
            on_event=sink.events.append,
            install_signals=False,
            stop=stop,
            on_started=lambda name, pid: started.append((name, pid)),
            on_ready=lambda: ready.append(len(probes)),
            ready_poll=0.05,
        )
    )
    await sink.wait_for(2)  # 'ready' from plain, 'booting' from server
    assert [name for name, _ in started] == ["plain", "server"]
    assert all(pid > 0 for _, pid in started)
    await until(lambda: len(probes) >= 2)  # asked twice, and nothing listens yet
    assert ready == []
    assert not any(probes)
    go.touch()  # now the server listens
    await until(lambda: bool(ready))
    stop.set()
    outcome = await asyncio.wait_for(task, 20)
    assert ready == [len(probes)]  # once, right after the first probe that answered
    assert probes[-1] is True
    assert probes.count(True) == 1
    assert ("server", "listening") in sink.lines
    assert not outcome.failed


async def test_ready_is_never_announced_when_a_child_fails_first() -> None:
    ready: list[bool] = []

    async def never() -> bool:
        return False

    outcome = await asyncio.wait_for(
        supervise(
            [ChildSpec("broken", py("import sys\nsys.exit(4)"), ready=never)],
            on_line=lambda *_: None,
            on_event=lambda _: None,
            install_signals=False,
            on_ready=lambda: ready.append(True),
            ready_poll=0.01,
        ),
        30,
    )
    assert outcome.failed == {"broken": 4}
    assert ready == []


async def test_with_restart_a_child_that_exits_runs_again_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    """The first run of `flaky` exits 3; its second run keeps serving; `steady` never stops."""
    marker = tmp_path / "ran-once"
    flaky = (
        f"import pathlib, sys, time\np = pathlib.Path({str(marker)!r})\n"
        "if not p.exists():\n    p.write_text('x')\n    print('first', flush=True)\n"
        "    sys.exit(3)\nprint('second', flush=True)\nwhile True: time.sleep(0.1)"
    )
    sink = Sink()
    stop = asyncio.Event()
    task = asyncio.create_task(
        supervise(
            [ChildSpec("flaky", py(flaky)), ChildSpec("steady", py(SERVE))],
            on_line=sink.line,
            on_event=sink.events.append,
            install_signals=False,
            stop=stop,
            restart=True,
            restart_delay=0.1,
        )
    )
    async with asyncio.timeout(20):
        while ("flaky", "second") not in sink.lines:
            await sink.wait_for(len(sink.lines) + 1)
    stop.set()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.failed == {}
    assert any("flaky: exited (code 3); restarting" in e for e in sink.events)
    assert ("steady", "ready") in sink.lines


async def test_with_restart_a_child_that_keeps_exiting_fails_the_run() -> None:
    sink = Sink()
    outcome = await asyncio.wait_for(
        supervise(
            [ChildSpec("crashy", py("import sys; sys.exit(4)")), ChildSpec("steady", py(SERVE))],
            on_line=sink.line,
            on_event=sink.events.append,
            install_signals=False,
            restart=True,
            restart_delay=0.05,
        ),
        60,
    )
    assert outcome.failed == {"crashy": 4}
    assert sum("crashy: exited" in e for e in sink.events) == 5  # MAX_RESTARTS, then it gives up
