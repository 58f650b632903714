"""Load held: the web process as production runs it (``autobuild web``: gunicorn, two workers of
16 threads) on a loopback port, real HTTP from many threads at once, on the session's Redis
database and a queue of the test's own.

- 100 copies of one delivery sent at the same instant queue exactly one build; the 99 others are
  answered 200 as duplicates carrying that build.
- 1,000 distinct signed deliveries in a burst (the queue cap above that) are all answered 2xx and
  all recorded, each with its job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from core.queue import build_queue
from core.settings import Settings
from core.store import BuildStore, repository_index_key
from tests.integration.control_helpers import (
    SECRET,
    free_port,
    repository_entry,
    wait_for,
    write_config,
)
from tests.integration.webhook_helpers import (
    PROJECT_ROOT,
    github_push,
    make_settings,
    sign,
)

pytestmark = pytest.mark.integration

BURST = 1000
COPIES = 100


@dataclass
class WebServer:
    settings: Settings
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def web(tmp_path, redis_url, clean_redis) -> Iterator[WebServer]:
    """``autobuild web`` on a free loopback port, for a repository whose branches bN build the
    tag bN; stopped (SIGTERM to its own PID) and its queue emptied at the end."""
    name = f"octo/load-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, "file:///nonexistent.git", "127.0.0.1:5000/autobuild-test/load")
    entry["build_rules"] = [
        {"source_type": "branch", "source": "/^b([0-9]+)$/", "docker_tag": "b{\\1}"}
    ]
    settings = make_settings(
        write_config(tmp_path, entry),
        redis_url,
        tmp_path,
        CTL_SECRET=SECRET,
        AUTOBUILD_MAX_QUEUED=str(BURST * 2),
    )
    port = free_port()
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **dict(settings.environ)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url) or process.poll() is not None, 30, "autobuild web")
        assert process.poll() is None, (tmp_path / "web.log").read_text()[-2000:]
        yield WebServer(settings, url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        build_queue(clean_redis, settings.queue_name).delete(delete_jobs=True)
        clean_redis.flushdb()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def repository_of(server: WebServer) -> str:
    from buildrules.loader import load

    (repository,) = load(server.settings.config_path).repositories
    return repository.name


def delivery(name: str, ref: str, commit: str, delivery_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(github_push(name, ref, commit)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    return body, headers


def send_all(url: str, requests_: list[tuple[bytes, dict[str, str]]], threads: int) -> list[Any]:
    """POST every delivery from ``threads`` threads that start together; (status, JSON) each."""
    start = threading.Barrier(threads)
    local = threading.local()

    def post(item: tuple[bytes, dict[str, str]]) -> tuple[int, Any]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            start.wait(timeout=30)  # every thread is ready before the first request goes
        body, headers = item
        answer = local.session.post(
            f"{url}/webhooks/github", data=body, headers=headers, timeout=60
        )
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(post, requests_))


def test_100_copies_of_one_delivery_at_once_queue_exactly_one_build(web, clean_redis):
    name = repository_of(web)
    copy = delivery(name, "refs/heads/b1", "c0" * 20, str(uuid.uuid4()))

    answers = send_all(web.url, [copy] * COPIES, threads=COPIES)

    statuses = Counter(status for status, _ in answers)
    assert statuses == {202: 1, 200: COPIES - 1}, statuses
    ((_, queued),) = [(s, body) for s, body in answers if s == 202]
    (build,) = queued["builds"]
    for status, body in answers:
        if status == 200:
            assert "already received" in body["ignored"], body
            assert [b["id"] for b in body["builds"]] == [build["id"]], body
    store = BuildStore(clean_redis)
    assert clean_redis.zcard(repository_index_key("github", name)) == 1
    assert [r.id for r in store.queued()] == [build["id"]]
    queue = build_queue(clean_redis, web.settings.queue_name)
    assert queue.get_job_ids() == [f"build-{build['id']}-1"]


def test_1000_distinct_deliveries_in_a_burst_are_all_answered_and_recorded(web, clean_redis):
    name = repository_of(web)
    burst = [
        delivery(name, f"refs/heads/b{n}", uuid.uuid4().hex + "0" * 8, str(uuid.uuid4()))
        for n in range(BURST)
    ]

    started = time.monotonic()
    answers = send_all(web.url, burst, threads=64)
    took = time.monotonic() - started

    assert Counter(status for status, _ in answers) == {202: BURST}, Counter(s for s, _ in answers)
    ids = [body["builds"][0]["id"] for _, body in answers]
    assert len(set(ids)) == BURST
    store = BuildStore(clean_redis)
    assert clean_redis.zcard(repository_index_key("github", name)) == BURST
    assert {r.id for r in store.queued()} == set(ids)  # every one recorded, still queued
    jobs = Job.fetch_many([f"build-{i}-1" for i in ids], clean_redis, JSONSerializer)
    # and every one with its job: one for a worker, the rest waiting for max_concurrent_builds
    statuses = Counter(job.get_status() if job else None for job in jobs)
    assert statuses == {JobStatus.QUEUED: 1, JobStatus.RATE_LIMITED: BURST - 1}, statuses
    assert took < 60, f"{BURST} deliveries took {took:.1f} s"
