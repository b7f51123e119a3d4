"""Detached server processes: start, find again from a pid file, stop; install commands."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from infra.stack._base import StackError

logger = logging.getLogger(__name__)

#: servers started by this Python process, so their exit is reaped (no zombie left to look alive)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

_LOG_ROTATE_BYTES = 20 * 1024 * 1024
_EXCEPTION_LINE = re.compile(r"^([\w.$]+(Exception|Error)(: |$)|panic: )")
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|Exception|panic|Error:)", re.IGNORECASE)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {argv[0]}\n".encode())
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
    """True when `pid` runs and is still our server (its command line contains `marker`)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False  # exited (and reaped)
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
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and marker in cmdline


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
