"""Redis fails over in the middle of a burst of webhooks and builds, and nothing accepted is lost.

Three sentinels (quorum 2) watch a master and its replica, every one a ``redis-server`` process of
this test (tests/integration/sentinel_helpers.py). The web app and two real ``autobuild worker``
processes reach Redis through the ``redis+sentinel://`` URL. A burst of signed pushes (several
repositories and branches, small builds on the suite's dockerd and registry) is sent from a few
threads, each delivery sent again while it is answered 5xx, as a git host redelivers; after the
first few are accepted the master is killed (SIGKILL: the machine is gone) or, in the second
case, handed over by ``SENTINEL FAILOVER``. Then every build of every accepted delivery is in the
store on the new master, and every build ends (success, or a terminal status with a reason)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.build import BuildStatus
from core.store import BuildStore
from tests.integration.control_helpers import (
    FAST_CONTROL,
    SECRET,
    WorkerProcess,
    configure,
    dockerfile,
    repository_entry,
    wait_for,
)
from tests.integration.sentinel_helpers import SERVICE, SentinelDeployment, until
from tests.integration.services import GitRepo
from tests.integration.webhook_helpers import github_push, sign
from tests.integration.worker_helpers import unique_image

pytestmark = pytest.mark.integration

REPOSITORIES = 3
BRANCHES = 3  # per repository: 9 deliveries, 9 builds
FIRST = 3  # deliveries accepted before the master goes away
PACE = 0.4  # seconds between the other deliveries, sent from the moment it goes away
DELIVERY_DEADLINE = 60.0  # a delivery answered 5xx is sent again until this
BUILDS_DEADLINE = 90.0


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelDeployment]:
    deployment = SentinelDeployment(tmp_path / "redis", replicas=1, sentinels=3, quorum=2)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@dataclass(frozen=True)
class Push:
    repository: str
    branch: str
    body: bytes
    delivery: str


@dataclass
class Answers:
    """What the burst was answered: the builds of every delivery answered 2xx, and how many
    answers were 5xx before that (sent again)."""

    builds: dict[str, list[str]]
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _pushes(
    make_git_repo: Any, base_image: str, registry_url: str
) -> tuple[list[dict[str, Any]], list[Push]]:
    """The repositories' configuration entries, and one push per branch of each."""
    entries: list[dict[str, Any]] = []
    pushes: list[Push] = []
    for r in range(REPOSITORIES):
        name = f"octo/burst-{r}-{uuid.uuid4().hex[:6]}"
        repo: GitRepo = make_git_repo({"Dockerfile": dockerfile(base_image, "COPY id /id")})
        entry = repository_entry(name, repo.url, unique_image(registry_url, f"burst{r}"))
        entry["build_rules"] = [
            {"source_type": "branch", "source": "/^(b[0-9]+)$/", "docker_tag": "{\\1}"}
        ]
        entries.append(entry)
        for b in range(BRANCHES):
            branch = f"b{b}"
            repo.checkout(branch, create=True)
            commit = repo.commit({"id": f"{name} {branch}\n"})
            body = json.dumps(github_push(name, f"refs/heads/{branch}", commit)).encode()
            pushes.append(Push(name, branch, body, str(uuid.uuid4())))
    return entries, pushes


def _deliver(
    app: Flask, push: Push, answers: Answers, start: threading.Event | None, after: float
) -> None:
    """Send ``push`` (``after`` seconds once ``start`` is set: the burst is paced across the
    failover) until it is answered 2xx, the same delivery each time (a redelivery)."""
    client = app.test_client()
    if start is not None:
        assert start.wait(DELIVERY_DEADLINE)
        time.sleep(after)
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": push.delivery,
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(SECRET, push.body),
    }
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while True:
        answer = client.post("/webhooks/github", data=push.body, headers=headers)
        if answer.status_code in (200, 202):
            ids = [build["id"] for build in answer.json["builds"]]
            assert len(ids) == 1, answer.json
            with answers.lock:
                answers.builds[push.delivery] = ids
            return
        assert answer.status_code == 503, (answer.status_code, answer.json)
        assert answer.json["error"]  # a reason, never a bare 503
        with answers.lock:
            answers.refused += 1
        assert time.monotonic() < deadline, f"{push} still refused: {answer.json}"
        time.sleep(0.2)


def _fail_over(sentinels: SentinelDeployment, how: str) -> int:
    """Take the master away (``kill``: SIGKILL; ``command``: SENTINEL FAILOVER); returns the new
    master's port once the sentinels agree on it."""
    old = sentinels.master_port()
    if how == "kill":
        sentinels.server(old).kill()
    else:
        with sentinels.watchers[0].client() as admin:
            admin.execute_command("SENTINEL", "FAILOVER", SERVICE)
    new: int = until(lambda: sentinels.failed_over_from(old), "the failover", seconds=30)
    assert new != old
    return new


@pytest.mark.parametrize("how", ["kill", "command"])
def test_no_accepted_webhook_is_lost_when_redis_fails_over_mid_burst(
    how: str,
    sentinels: SentinelDeployment,
    tmp_path: Path,
    make_git_repo: Any,
    base_image: str,
    registry_url: str,
) -> None:
    entries, pushes = _pushes(make_git_repo, base_image, registry_url)
    settings, client = configure(tmp_path, sentinels.url(0), entries, **FAST_CONTROL)
    app = client.application
    answers = Answers(builds={})
    workers = [WorkerProcess(settings, tmp_path / f"worker{i}.log").start() for i in range(2)]
    try:
        wait_for(
            lambda: len(client.get("/api/v1/workers").json["workers"]) == len(workers),
            60,
            "both workers to be listed",
        )
        with ThreadPoolExecutor(max_workers=3) as pool:
            rest = threading.Event()  # the deliveries after the first few: sent as it fails
            sent = [
                pool.submit(
                    _deliver, app, push, answers, rest if i >= FIRST else None, (i - FIRST) * PACE
                )
                for i, push in enumerate(pushes)
            ]
            wait_for(
                lambda: len(answers.builds) >= FIRST,
                DELIVERY_DEADLINE,
                "the first deliveries to be accepted",
            )
            rest.set()
            new_master = _fail_over(sentinels, how)
            for future in sent:
                future.result()
        assert len(answers.builds) == len(pushes)
        accepted = [i for ids in answers.builds.values() for i in ids]
        assert len(set(accepted)) == len(pushes)  # one build per delivery, none twice

        with sentinels.server(new_master).client() as direct:
            store = BuildStore(direct)
            found = store.get_many(accepted)  # on the new master: nothing accepted was lost
            assert sorted(r.id for r in found) == sorted(accepted)

            def ended() -> list[Any] | None:
                records = store.get_many(accepted)
                return records if all(r.status.terminal for r in records) else None

            records = wait_for(ended, BUILDS_DEADLINE, "every build to end", every=0.5)
        for record in records:
            assert record.status is BuildStatus.SUCCESS or record.error, record
        print(
            f"failover by {how}: {answers.refused} answers 503 (sent again), statuses",
            sorted(r.status.value for r in records),
        )
    finally:
        for worker in workers:
            worker.stop()
        app.extensions["autobuild"].redis.connection_pool.disconnect()
