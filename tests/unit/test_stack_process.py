"""The local stack's process handling, on real (small Python) processes: liveness of our own
children and of pids read back from files, the cause named when a server exits during start,
the install lock telling who holds it, and the record of the components `ixo up` runs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.stack import ComponentRecord, RunningComponents, StackError, StackPorts
from infra.stack._base import Context, Service
from infra.stack._process import (
    cmdline_matches,
    exit_cause,
    file_lock,
    is_alive,
    spawn,
    stop_all,
)
from infra.stack._stack import wait_healthy

SLEEPER = "import time\nwhile True: time.sleep(0.1)"
MARKER = "ixo-test-sleeper"


def sleeper_argv() -> list[str]:
    # The marker rides in argv (after -c's program), as a server's does in its command line.
    return [sys.executable, "-c", SLEEPER, MARKER]


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(tmp_path / "state", tmp_path / "cache", StackPorts.free(), progress=None)


class Script(Service):
    """A 'server' that is a Python one-liner: it never answers, it may exit by itself."""

    name = "script"
    marker = MARKER

    def __init__(self, ctx: Context, code: str) -> None:
        super().__init__(ctx)
        self.code = code

    @property
    def port(self) -> int:
        return self.ctx.ports.redis

    def install(self) -> None:
        return None

    def prepare(self) -> None:
        return None

    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        return [sys.executable, "-c", self.code, MARKER], None, self.ctx.state_dir

    def check(self, timeout: float) -> bool:
        return False

    def describe(self) -> str:
        return "a test script"


def start(service: Service) -> int:
    argv, env, cwd = service.command()
    cwd.mkdir(parents=True, exist_ok=True)
    return spawn(argv, cwd=cwd, env=env, log_path=service.log_path, pid_path=service.pid_path)


def test_our_own_children_are_alive_from_the_first_instant(tmp_path: Path) -> None:
    # Right after a start /proc/PID/cmdline can read empty or still show the parent's command:
    # for a child we started, its exit status is the truth, so this never says "dead".
    pids = [
        spawn(
            sleeper_argv(),
            cwd=tmp_path,
            env=None,
            log_path=tmp_path / f"s{i}.log",
            pid_path=tmp_path / f"s{i}.pid",
        )
        for i in range(20)
    ]
    try:
        assert [is_alive(pid, MARKER) for pid in pids] == [True] * 20
    finally:
        took = stop_all([(str(pid), pid, MARKER) for pid in pids], timeout=10)
    assert sorted(took) == sorted(str(pid) for pid in pids)
    assert not any(is_alive(pid, MARKER) for pid in pids)


def test_a_child_that_exited_is_dead_even_before_anyone_reaps_it(tmp_path: Path) -> None:
    pid = spawn(
        [sys.executable, "-c", "raise SystemExit(0)", MARKER],
        cwd=tmp_path,
        env=None,
        log_path=tmp_path / "quick.log",
        pid_path=tmp_path / "quick.pid",
    )
    deadline = time.monotonic() + 20  # a wait for the exit, not an assertion on speed
    while is_alive(pid, MARKER) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not is_alive(pid, MARKER)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process started by someone else: only its pid is known (as from a pid file)."""
    proc = subprocess.Popen(sleeper_argv())
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_pid_from_a_file_is_ours_only_with_the_marker(
    stranger: subprocess.Popen[bytes],
) -> None:
    deadline = time.monotonic() + 20  # until the exec shows the marker
    while MARKER.encode() not in Path(f"/proc/{stranger.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the process never showed its command line"
        time.sleep(0.01)
    assert is_alive(stranger.pid, MARKER)
    assert not is_alive(stranger.pid, "redis-server")  # a reused pid is not our server
    stranger.kill()
    stranger.wait()
    assert not is_alive(stranger.pid, MARKER)


@pytest.mark.parametrize(
    ("stat", "cmdline", "marker", "ours"),
    [
        ("42 (redis-server) S 1 42", b"redis-server\0--port\0" + b"6379\0", "redis-server", True),
        ("42 (python) S 1 42", b"python\0-c\0pass\0", "redis-server", False),
        ("42 (redis-server) Z 1 42", b"", "redis-server", False),  # a zombie is gone
        ("42 (redis-server) R 1 42", b"", "redis-server", True),  # read while it execs
        ("42 (a) b) S 1 42", b"\0", "redis-server", True),  # ")" in the name; NUL only
    ],
)
def test_the_procfs_check_tolerates_an_empty_command_line(
    stat: str, cmdline: bytes, marker: str, ours: bool
) -> None:
    assert cmdline_matches(stat, cmdline, marker) is ours


def test_a_server_exiting_during_start_names_its_exit_code_and_last_lines(
    ctx: Context,
) -> None:
    code = (
        "import sys\n"
        "print('server 1.0 starting')\n"
        "print('ERROR: cannot open the data dir: permission denied')\n"
        "print('shutting down')\n"
        "sys.exit(3)"
    )
    service = Script(ctx, code)
    service.log_path.parent.mkdir(parents=True, exist_ok=True)
    service.log_path.write_text("an older run\nFATAL: an old failure\n")
    pid = start(service)
    with pytest.raises(StackError) as caught:
        wait_healthy([(service, pid)], ctx, time.monotonic() + 60, 60)
    message = str(caught.value)
    assert "script exited during start (exit 3)" in message
    assert "ERROR: cannot open the data dir: permission denied" in message
    assert "shutting down" in message
    assert "old failure" not in message  # only this start's output
    assert "starting: " not in message  # not spawn's start line
    assert not service.pid_path.exists()


def test_exit_cause_of_a_silent_server(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n--- 2026-01-01 00:00:00 starting: /bin/x\n")
    assert exit_cause(log) == "it wrote nothing"


HOLDER = """
import sys
from pathlib import Path
from infra.stack._process import file_lock
with file_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_waiter_for_the_install_lock_is_told_who_holds_it(tmp_path: Path) -> None:
    lock = tmp_path / ".kafka.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    assert holder.stdout.readline() == b"locked\n"
    told: list[str] = []
    acquired = threading.Event()

    def wait_for_it() -> None:
        with file_lock(lock, what="Kafka install", on_wait=told.append):
            acquired.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    try:
        deadline = time.monotonic() + 20
        while not told and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not acquired.is_set()
    finally:
        holder.stdin.close()
        holder.wait()
        waiter.join(20)
    assert acquired.is_set()
    assert len(told) == 1
    assert told[0].startswith(f"waiting for the Kafka install lock held by pid {holder.pid} (")


def test_components_are_recorded_checked_and_cleared(tmp_path: Path) -> None:
    record = RunningComponents(tmp_path / "state")
    assert record.statuses() == []
    pid = spawn(
        sleeper_argv(),
        cwd=tmp_path,
        env=None,
        log_path=tmp_path / "c.log",
        pid_path=tmp_path / "c.pid",
    )
    try:
        record.add(ComponentRecord("gateway", pid, MARKER, "http://127.0.0.1:8080"))
        record.add(ComponentRecord("projector", 2**22 + 7, MARKER))  # no such process
        by_name = {s.name: s for s in RunningComponents(tmp_path / "state").statuses()}
        assert by_name["gateway"].running
        assert by_name["gateway"].pid == pid
        assert by_name["gateway"].address == "http://127.0.0.1:8080"
        assert by_name["gateway"].kind == "component"
        assert not by_name["projector"].running
        assert by_name["projector"].pid is None
    finally:
        stop_all([("c", pid, MARKER)], timeout=10)
    assert not RunningComponents(tmp_path / "state").statuses()[0].running
    record.clear()
    assert RunningComponents(tmp_path / "state").statuses() == []


def test_cluster_ports_default_free_and_saved() -> None:
    from infra.stack._kafka import cluster_replication

    three = StackPorts.defaults(3)
    assert [three.kafka_node(n) for n in (1, 2, 3)] == [(9092, 9093), (9094, 9095), (9096, 9097)]
    picked = StackPorts.free(3)
    ports = [p for n in (1, 2, 3) for p in picked.kafka_node(n)]
    assert len(set(ports)) == 6
    assert StackPorts.from_dict(picked.as_dict()) == picked
    assert StackPorts.from_dict({"kafka": 1, "mongodb": 2}).brokers == 1  # an old stack.json
    assert cluster_replication(1) == (1, 1)
    assert cluster_replication(3) == (3, 2)
    assert cluster_replication(5) == (3, 2)
