"""A 202 waits until a replica has the builds (WAIT), whenever the master has one: a real master
and replica (tests/integration/sentinel_helpers.py). With the replica stopped (SIGSTOP: still
connected, never acknowledging) the webhook is answered 503 with a reason, and the git host's
redelivery of the same delivery is answered with the same builds once the replica is back."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from core.replication import ReplicaCount, ReplicationTimeoutError, confirm_replicated
from core.store import BuildStore
from tests.integration.control_helpers import (
    SECRET,
    TRIGGER,
    configure,
    repository_entry,
    write_config,
)
from tests.integration.sentinel_helpers import RedisProcess, SentinelDeployment
from tests.integration.services import GitRepo
from tests.integration.webhook_helpers import github_push, make_app, make_settings, sign

pytestmark = pytest.mark.integration

WAIT_MS = 300


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[SentinelDeployment]:
    """A master and one replica in sync (no sentinel: WAIT needs none)."""
    deployment = SentinelDeployment(tmp_path / "redis", replicas=1, sentinels=0)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


def test_wait_confirms_a_write_on_a_real_replica(replicated: SentinelDeployment) -> None:
    master, replica = replicated.servers
    with master.client() as connection:
        connection.set("build", "recorded")
        assert confirm_replicated(connection, ReplicaCount(), 2000) == 1
    with replica.client() as copy:
        assert copy.get("build") == b"recorded"


def test_wait_times_out_while_the_replica_is_stopped(replicated: SentinelDeployment) -> None:
    master, replica = replicated.servers
    replica.signal(signal.SIGSTOP)
    try:
        with (
            master.client() as connection,
            pytest.raises(ReplicationTimeoutError, match=f"within {WAIT_MS} ms"),
        ):
            confirm_replicated(connection, ReplicaCount(), WAIT_MS)
    finally:
        replica.signal(signal.SIGCONT)


def _delivery(name: str) -> tuple[bytes, dict[str, str]]:
    """A signed push of a new commit to master: its body and headers, to send more than once."""
    body = json.dumps(github_push(name, "refs/heads/master", uuid.uuid4().hex + "0" * 8)).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    return body, headers


def test_a_webhook_is_answered_503_until_a_replica_has_its_builds(
    replicated: SentinelDeployment, tmp_path: Path
) -> None:
    master, replica = replicated.servers
    name = f"octo/wait-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, "file:///nonexistent.git", "127.0.0.1:5000/autobuild-test/wait")
    settings = make_settings(
        write_config(tmp_path, entry),
        f"redis://127.0.0.1:{master.port}/0",
        tmp_path,
        CTL_SECRET=SECRET,
        AUTOBUILD_REDIS_WAIT_MS=str(WAIT_MS),
    )
    app = make_app(settings)
    client = app.test_client()
    try:
        _answers_503_then_the_redelivery(client, master, replica, name)
    finally:
        app.extensions["autobuild"].redis.connection_pool.disconnect()


def _answers_503_then_the_redelivery(
    client: FlaskClient, master: RedisProcess, replica: RedisProcess, name: str
) -> None:

    body, headers = _delivery(name)
    answer = client.post(f"/webhooks/github/{name}", data=body, headers=headers)
    assert answer.status_code == 202, answer.json  # the replica confirmed at once
    first = answer.json["builds"][0]["id"]

    replica.signal(signal.SIGSTOP)
    try:
        body, headers = _delivery(name)
        refused = client.post(f"/webhooks/github/{name}", data=body, headers=headers)
        assert refused.status_code == 503, refused.json
        assert refused.headers["Retry-After"]
        assert f"did not confirm within {WAIT_MS} ms that a replica" in refused.json["error"]
        assert "send the same delivery again" in refused.json["error"]
        with master.client() as connection:  # the master holds the new build meanwhile
            queued = [r.id for r in BuildStore(connection).queued()]
        assert len(queued) == 1 and queued[0] != first  # (it superseded the first one)
    finally:
        replica.signal(signal.SIGCONT)

    again = client.post(f"/webhooks/github/{name}", data=body, headers=headers)
    assert again.status_code == 200, again.json  # the redelivery: the same builds, not a replay
    assert "already received" in again.json["ignored"]
    assert [build["id"] for build in again.json["builds"]] == queued
    with replica.client() as copy:
        assert [r.id for r in BuildStore(copy).queued()] == queued


def test_a_trigger_is_answered_503_while_no_replica_confirms(
    replicated: SentinelDeployment, tmp_path: Path, make_git_repo: Callable[..., GitRepo]
) -> None:
    master, replica = replicated.servers
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    name = f"octo/wait-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, repo.url, "127.0.0.1:5000/autobuild-test/wait")
    _, client = configure(
        tmp_path,
        f"redis://127.0.0.1:{master.port}/0",
        [entry],
        AUTOBUILD_REDIS_WAIT_MS=str(WAIT_MS),
    )
    url = f"/api/v1/repositories/github/{name}/trigger"
    try:
        assert client.post(url, json={"build": True}, headers=TRIGGER).status_code == 202
        replica.signal(signal.SIGSTOP)
        try:
            refused = client.post(url, json={"build": True}, headers=TRIGGER)
        finally:
            replica.signal(signal.SIGCONT)
        assert refused.status_code == 503, refused.json
        assert f"did not confirm within {WAIT_MS} ms" in refused.json["error"]
        assert "a new trigger queues them again" in refused.json["error"]
    finally:
        client.application.extensions["autobuild"].redis.connection_pool.disconnect()
