"""Helpers for the schedule tests: ``autobuild web`` processes the test starts and stops, and
the Redis mark of a scheduled rule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import requests

from buildrules.loader import load
from core.schedules import ScheduledRule, mark_key, scheduled_rules
from core.settings import Settings
from tests.integration.control_helpers import free_port, wait_for
from tests.integration.webhook_helpers import PROJECT_ROOT


class WebProcess:
    """``autobuild web`` on a free loopback port; only its own PID is ever signalled."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> WebProcess:
        port = self.url.rsplit(":", 1)[1]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        process = self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "web", "--host", "127.0.0.1", "--port", port],
            cwd=PROJECT_ROOT,
            env={**os.environ, **dict(self.settings.environ)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.answers() or process.poll() is not None, 30, "autobuild web")
        assert process.poll() is None, self.log_path.read_text()[-2000:]
        return self

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> WebProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def only_scheduled_rule(settings: Settings) -> ScheduledRule:
    (repository,) = load(settings.config_path).repositories
    (scheduled,) = scheduled_rules(repository)
    return scheduled


def set_mark(connection: redis.Redis, scheduled: ScheduledRule, handled: datetime) -> None:
    """As if the firings up to ``handled`` had been handled (the schedule is known)."""
    connection.set(mark_key(scheduled.key), int(handled.timestamp()))
