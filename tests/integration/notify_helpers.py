"""Stand-ins for the other side of notifications: a loopback HTTP server that records every
request (as a git host's status API or a webhook receiver would get it) and answers as told,
and the notify process itself, started as ``autobuild notify`` and stopped by its PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from core.settings import PROJECT_ROOT


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records requests; answers each with the next of ``codes`` (the last repeats). A code of
    0 never answers (the connection stays open until the server stops)."""

    def __init__(self, codes: tuple[int, ...] = (201,), location: str | None = None) -> None:
        self.codes = list(codes)
        self.location = location  # sent with every answer (a redirect's target)
        self.received: list[Received] = []
        self.answered: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received("POST", self.path, dict(self.headers.items()), body)
                    )
                    index = len(receiver.received) - 1
                    code = receiver.codes[min(index, len(receiver.codes) - 1)]
                if code == 0:
                    receiver._stop.wait(60)
                    return
                receiver.answered.append(code)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """The first ``count`` requests, once they came; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received[:count])
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} of {count} requests came: {self.received}")

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def poll(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.1) -> Any:
    """``check()``'s first true value; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check}")
        time.sleep(every)


def write_config(path: Path, repositories: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(yaml.safe_dump({"repositories": repositories, **top}, sort_keys=False))
    return path


@dataclass
class NotifyProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text(errors="replace")


def start_notify(environ: Mapping[str, str], log: Path) -> NotifyProcess:
    """``autobuild notify`` with ``environ`` (REDIS_URL, AUTOBUILD_CONFIG, secrets, ...)."""
    passed = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "notify"],
        cwd=PROJECT_ROOT,
        env={**passed, **environ},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    return NotifyProcess(process, log)


def running(notify: NotifyProcess) -> Iterator[NotifyProcess]:
    try:
        yield notify
    finally:
        notify.stop()
