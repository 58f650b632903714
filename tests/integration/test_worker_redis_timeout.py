"""A Redis that hangs (accepts, never answers) does not stall a worker (issue 18, item 9f): its
connections have a read timeout (AUTOBUILD_REDIS_TIMEOUT), so a command raises
``redis.exceptions.TimeoutError`` within it. The hanging Redis is a loopback TCP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from buildrules.model import Config
from core.settings import Settings
from worker.context import WorkerContext
from worker.redis_connection import worker_redis

pytestmark = pytest.mark.integration

TIMEOUT = 1.0


@pytest.fixture
def hanging_redis() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a server that accepts connections and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:  # a client still waiting gets its answer: the end
            connection.close()
        server.close()


def within(seconds: float, call) -> tuple[BaseException | None, float]:  # type: ignore[no-untyped-def]
    """Run ``call`` in a thread; what it raised and how long it took, or fail past ``seconds``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting for Redis after {seconds} s"
    return outcome[0], time.monotonic() - started


def test_a_worker_notices_a_hanging_redis_within_its_timeout(hanging_redis):
    settings = Settings.from_env(
        {"REDIS_URL": hanging_redis, "AUTOBUILD_REDIS_TIMEOUT": str(TIMEOUT)}
    )
    context = WorkerContext.create(settings, Config())
    try:
        error, took = within(TIMEOUT * 5, lambda: context.store.get("f" * 32))
    finally:
        context.redis.close()
    assert isinstance(error, redis.exceptions.TimeoutError), error
    assert took < TIMEOUT * 3


def test_every_worker_connection_times_out_on_a_hanging_redis(hanging_redis):
    """worker_redis makes the rq loop's, the maintenance thread's and the notify workers'
    connections (worker/main.py, cli/notify.py, worker/notify/deliver.py)."""
    settings = Settings.from_env(
        {"REDIS_URL": hanging_redis, "AUTOBUILD_REDIS_TIMEOUT": str(TIMEOUT)}
    )
    connection = worker_redis(settings)
    try:
        error, took = within(TIMEOUT * 5, connection.ping)
    finally:
        connection.close()
    assert isinstance(error, redis.exceptions.TimeoutError), error
    assert took < TIMEOUT * 3
