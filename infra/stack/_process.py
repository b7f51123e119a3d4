"""Detached server processes: start, find again from a pid file, stop; install commands."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from infra.stack._base import StackError

logger = logging.getLogger(__name__)

#: servers started by this Python process, so their exit is reaped (no zombie left to look alive)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

_LOG_ROTATE_BYTES = 20 * 1024 * 1024
_LOCK_POLL_S = 0.5
_LOCK_NOTICE_S = 30.0
#: the line `spawn` writes before each start: a start's own output is what follows the last one
START_LINE = "starting: "
_EXCEPTION_LINE = re.compile(r"^([\w.$]+(Exception|Error)(: |$)|panic: )")
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|Exception|panic|Error:)", re.IGNORECASE)
_ADDRESS_IN_USE = re.compile(r"address already in use|BindException|EADDRINUSE", re.IGNORECASE)


@contextlib.contextmanager
def file_lock(
    path: Path, *, what: str = "", on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), across processes.

    The holder writes its pid and command line into the file; a caller that has to wait is told
    (through `on_wait`) who holds the lock, and again every `_LOCK_NOTICE_S` while it waits.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait_for_lock(handle, path, what or path.name, on_wait)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {_own_command()}\n")
            handle.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _wait_for_lock(
    handle: IO[str], path: Path, what: str, on_wait: Callable[[str], None] | None
) -> None:
    tell = on_wait or (lambda message: logger.info("%s", message))
    started = time.monotonic()
    tell(f"waiting for the {what} lock held by {lock_holder(path)}")
    notice = started + _LOCK_NOTICE_S
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= notice:
                waited = time.monotonic() - started
                holder = lock_holder(path)
                tell(f"still waiting for the {what} lock ({waited:.0f}s), held by {holder}")
                notice += _LOCK_NOTICE_S
            time.sleep(_LOCK_POLL_S)
            continue
        return


def lock_holder(path: Path) -> str:
    """Who holds a `file_lock`, as its holder wrote it: 'pid 123 (ixo stack up)'."""
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    pid, _, command = text.partition(" ")
    if not pid.isdigit():
        return "another process"
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def _own_command() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    return " ".join(argv)[:200] or "python"


def rotate_log(path: Path) -> None:
    """Keep one previous log when the current one grew large."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))


def spawn(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None, log_path: Path, pid_path: Path
) -> int:
    """Start a server in its own session (it outlives us), output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    rotate_log(log_path)
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {START_LINE}{argv[0]}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    pid_path.write_text(f"{proc.pid}\n")
    logger.debug("started pid %d: %s", proc.pid, argv)
    return proc.pid


def read_pid(pid_path: Path) -> int | None:
    try:
        return int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def exit_code(pid: int) -> int | None:
    """The exit code of a server this process started and that has exited, else None."""
    child = _CHILDREN.get(pid)
    return None if child is None else child.poll()


def is_alive(pid: int, marker: str) -> bool:
    """True when `pid` runs and is still our server.

    For a server this process started, its own exit status decides (`Popen.poll()`, which also
    reaps it). For a pid read back from a file, the process must exist, not be a zombie, and
    have `marker` in its command line; a command line that reads empty (the moment while a
    process execs) counts as ours, since the signal probe found the pid alive.
    """
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not ours
    return _proc_matches(pid, marker)


def _proc_matches(pid: int, marker: str) -> bool:
    """Through procfs: not a zombie and the command line has `marker` (True without procfs)."""
    proc = Path("/proc") / str(pid)
    if not proc.is_dir():
        return True  # no procfs: trust the signal probe
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except FileNotFoundError:
        return False  # gone between the probe and the read
    except OSError:
        return True  # unreadable: trust the signal probe
    return cmdline_matches(stat, cmdline, marker)


def cmdline_matches(stat: str, cmdline: bytes, marker: str) -> bool:
    """Whether procfs's `stat` and `cmdline` of a live pid describe our server.

    A zombie is not; an empty command line (read while the process execs) is given the
    benefit of the doubt; otherwise the command line must contain `marker`.
    """
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] == "Z":
        return False
    if not cmdline.strip(b"\0"):
        return True
    return marker in cmdline.replace(b"\0", b" ").decode(errors="replace")


def signal_process(pid: int, sig: signal.Signals, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def stop_all(targets: list[tuple[str, int, str]], timeout: float) -> dict[str, float]:
    """SIGTERM each (name, pid, marker), wait up to `timeout`, then SIGKILL the rest.

    Returns the seconds each took to exit.
    """
    start = time.monotonic()
    for _, pid, _ in targets:
        signal_process(pid, signal.SIGTERM)
    pending = list(targets)
    took: dict[str, float] = {}
    deadline = start + timeout
    while pending:
        still: list[tuple[str, int, str]] = []
        for target in pending:
            name, pid, marker = target
            if is_alive(pid, marker):
                still.append(target)
            else:
                took[name] = time.monotonic() - start
                _CHILDREN.pop(pid, None)
        pending = still
        if not pending:
            break
        if time.monotonic() > deadline:
            for name, pid, marker in pending:
                logger.warning(
                    "%s (pid %d) ignored SIGTERM for %.0fs: killing it", name, pid, timeout
                )
                signal_process(pid, signal.SIGKILL, group=True)
                _wait_gone(pid, marker, 5.0)
                _CHILDREN.pop(pid, None)
                took[name] = time.monotonic() - start
            break
        time.sleep(0.1)
    return took


def _wait_gone(pid: int, marker: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while is_alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.05)


def tail(path: Path, lines: int = 40) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def last_error_line(path: Path) -> str:
    """The most telling recent line of a log: the last error-looking one, else the last one."""
    recent = [line for line in tail(path) if not line[:1].isspace()]  # no stack frames
    for pattern in (_EXCEPTION_LINE, _ERROR_LINE):
        for line in reversed(recent):
            if pattern.search(line):
                return line.strip()[:300]
    return recent[-1].strip()[:300] if recent else "(empty log)"


def start_output(path: Path, lines: int = 200) -> list[str]:
    """The non-blank lines a server wrote since its last start (after `spawn`'s start line)."""
    recent = tail(path, lines)
    starts = [i for i, line in enumerate(recent) if line.startswith("--- ") and START_LINE in line]
    return recent[starts[-1] + 1 :] if starts else recent


def exit_cause(path: Path, *, lines: int = 3) -> str:
    """Why a server stopped, from its own output since its last start: the last error-looking
    line, then the last `lines` lines (deduplicated), joined on one line."""
    output = [line.strip() for line in start_output(path)]
    if not output:
        return "it wrote nothing"
    picked: list[str] = []
    top = [line for line in output if line and not line[:1].isspace()]
    for pattern in (_EXCEPTION_LINE, _ERROR_LINE):
        found = next((line for line in reversed(top) if pattern.search(line)), None)
        if found is not None:
            picked.append(found)
            break
    for line in output[-lines:]:
        if line not in picked:
            picked.append(line)
    return " | ".join(line[:300] for line in picked)


def address_in_use(path: Path) -> bool:
    """Whether a server's output since its last start says a port it binds is taken."""
    return any(_ADDRESS_IN_USE.search(line) for line in start_output(path))


def run_checked(
    argv: list[str],
    *,
    what: str,
    log_path: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> None:
    """Run an install step to completion, output appended to `log_path`; StackError on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logger.debug("running %s", argv)
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            result = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            msg = f"{what} took more than {timeout:.0f}s (output in {log_path})"
            raise StackError(msg) from None
        except OSError as exc:
            msg = f"{what} could not run {argv[0]}: {exc.strerror}"
            raise StackError(msg) from None
    if result.returncode != 0:
        msg = (
            f"{what} failed (exit {result.returncode}): {last_error_line(log_path)}"
            f" (full output in {log_path})"
        )
        raise StackError(msg)
