"""Processes the bench starts, and stops by their PID (never by name)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """One long-running process: started in a session of its own, output to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path = PROJECT_ROOT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to our PID, SIGKILL to it after ``grace`` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its direct children, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(child) for child in children)
    except OSError:
        pass
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def wait_for_http(port: int, path: str, process: Process, timeout: float = 30.0) -> None:
    """Wait until ``GET path`` on 127.0.0.1:port answers 200 (or the process dies)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited at start:\n{process.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer GET {path} within {timeout:.0f} s")


def wait_for_port(port: int, process: Process, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not port_open(port):
        if not process.alive():
            raise RuntimeError(f"{process.name} exited at start:\n{process.tail()}")
        if time.monotonic() > end:
            raise RuntimeError(f"{process.name} did not listen on 127.0.0.1:{port}")
        time.sleep(0.05)


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    log: IO[bytes] | None = None,
    timeout: float = 600,
) -> str:
    """Run a command to its end; its stdout (or, with ``log``, its output goes there). Raises with
    the output's end on a non-zero exit."""
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        input=input_bytes,
        stdout=log if log is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stderr or b"").decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv[:4])} exited {result.returncode}: {output}")
    return (result.stdout or b"").decode(errors="replace") if log is None else ""
