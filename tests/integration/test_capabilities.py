"""Worker capabilities end to end, with real ``autobuild worker`` processes on the real Redis,
Docker daemon and registry: a ``runs_on`` build is taken only by the worker with the label
while one without it stays idle; a build needing a label no worker has stays queued and its
page, the API and the dashboard say why, until a worker with the label starts and builds it; a
cancel takes a waiting build off its needs queue; the workers API shows what each offers; a
platform the daemon cannot run is refused at start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from core.build import BuildRecord
from core.queue import build_queue, job_id_for
from tests.integration.control_helpers import (
    ADMIN,
    FAST_CONTROL,
    WorkerProcess,
    build_of,
    configure,
    dockerfile,
    push,
    repository_entry,
    wait_for,
)
from tests.integration.webhook_helpers import PROJECT_ROOT
from tests.integration.worker_helpers import unique_image
from worker.rq_worker import LISTEN_REFRESH_SECONDS

pytestmark = pytest.mark.integration


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "capabilities")


def workers(client: FlaskClient) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/workers").json["workers"])


def worker_with(client: FlaskClient, labels: list[str]) -> dict[str, Any] | None:
    found = [w for w in workers(client) if w["labels"] == labels and not w["lost"]]
    return found[0] if found else None


def finished(client: FlaskClient, build_id: str) -> dict[str, Any]:
    """The build once it has ended ``success``."""

    def ended() -> dict[str, Any] | None:
        build: dict[str, Any] = build_of(client, build_id)
        return build if build["status"] == "success" else None

    return wait_for(ended, 120, f"build {build_id} to succeed")


def done_by(client: FlaskClient, name: str) -> int:
    return sum(w["builds_done"] for w in workers(client) if w["name"] == name)


def heard_after(client: FlaskClient, name: str, moment: str) -> bool:
    """Whether idle worker ``name`` has heartbeated a whole wait after ``moment``: it looked at
    the needs queues after a build was queued then, waited, found nothing and beat again."""
    (worker,) = [w for w in workers(client) if w["name"] == name]
    beat = worker["last_heartbeat"]
    later = _time(moment).timestamp() + LISTEN_REFRESH_SECONDS + 1
    return bool(beat) and _time(beat).timestamp() > later


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def job_id_for_json(build: dict[str, Any]) -> str:
    return job_id_for(BuildRecord.loads(json.dumps(build)))


def queue_rows(page: str) -> dict[str, tuple[int, int]]:
    """The dashboard's table of queues: needs -> (queued builds, workers that can take them)."""
    table = page.split('id="queues"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'data-needs="([^"]*)" data-queued="(\d+)" data-workers="(\d+)"', table)
    return {needs: (int(queued), int(count)) for needs, queued, count in rows}


def test_a_runs_on_build_is_taken_only_by_the_worker_with_the_label(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    name = f"octo/big-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, repo.url, image, runs_on=["big-memory"])
    settings, client = configure(tmp_path, redis_url, [entry], **FAST_CONTROL)

    with (
        WorkerProcess(settings, tmp_path / "plain.log") as plain,
        WorkerProcess(settings, tmp_path / "big.log", options=["--label", "big-memory"]) as big,
    ):
        unlabelled = wait_for(lambda: worker_with(client, []), 60, "the plain worker")
        labelled = wait_for(lambda: worker_with(client, ["big-memory"]), 60, "the big worker")
        assert "linux/amd64" in labelled["platforms"] and "linux/amd64" in unlabelled["platforms"]
        builds = [push(client, name, repo.head())[0]]
        builds += push(client, name, repo.head(), "refs/tags/v1.0")
        for build in builds:
            assert build["needs"] == ["big-memory"]
            done = finished(client, build["id"])
            assert done["waiting_reason"] is None
        # rq counts a job once it has recorded its end, just after the build's own end
        wait_for(lambda: done_by(client, labelled["name"]) == 2, 30, "rq's count of 2 jobs")
        by_name = {w["name"]: w for w in workers(client)}
        assert by_name[unlabelled["name"]]["builds_done"] == 0  # idle all along
        assert by_name[unlabelled["name"]]["state"] == "idle"
        assert plain.process is not None and plain.process.poll() is None
        assert big.process is not None and big.process.poll() is None


def test_a_build_no_worker_can_run_waits_saying_why_until_one_can(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    name = f"octo/gpu-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, repo.url, image, runs_on=["gpu"])
    settings, client = configure(tmp_path, redis_url, [entry], **FAST_CONTROL)
    only_amd64 = ["--platform", "linux/amd64"]

    with WorkerProcess(settings, tmp_path / "plain.log", options=only_amd64):
        plain = wait_for(lambda: worker_with(client, []), 60, "the plain worker")
        assert plain["platforms"] == ["linux/amd64"]
        (first,) = push(client, name, repo.head())
        (second,) = push(client, name, repo.head(), "refs/tags/v1.0")
        wait_for(lambda: heard_after(client, plain["name"], first["created_at"]), 30, "a beat")
        reason = "No worker offers gpu; workers offer: linux/amd64."
        for build in (first, second):
            waiting = build_of(client, build["id"])
            assert waiting["status"] == "queued" and waiting["waiting_reason"] == reason
        page = client.get(f"/builds/{first['id']}").get_data(as_text=True)
        assert reason in page
        dashboard = client.get("/").get_data(as_text=True)
        assert queue_rows(dashboard)["gpu"] == (2, 0)
        assert queue_rows(dashboard)[""] == (0, 1)
        assert reason.split(";")[0] in dashboard.split('id="queues"', 1)[1]

        # a cancel takes the first off the gpu queue and frees the repository's slot
        gpu_queue = build_queue(clean_redis, f"{settings.queue_name}:needs:gpu")
        assert gpu_queue.job_ids == [job_id_for_json(first)]
        canceled = client.post(f"/api/v1/builds/{first['id']}/cancel", headers=ADMIN)
        assert canceled.status_code == 200 and canceled.json["status"] == "canceled"
        assert gpu_queue.job_ids == [job_id_for_json(second)]  # its turn now
        assert queue_rows(client.get("/").get_data(as_text=True))["gpu"] == (1, 0)

        with WorkerProcess(settings, tmp_path / "gpu.log", options=[*only_amd64, "--label", "gpu"]):
            done = finished(client, second["id"])
            assert done["waiting_reason"] is None
            gpu_worker = worker_with(client, ["gpu"])
            assert gpu_worker is not None
            wait_for(lambda: done_by(client, gpu_worker["name"]) == 1, 30, "rq's count of 1")
            assert "gpu" in queue_rows(client.get("/").get_data(as_text=True))
            assert queue_rows(client.get("/").get_data(as_text=True))["gpu"] == (0, 1)
    assert build_of(client, first["id"])["status"] == "canceled"
    assert gpu_queue.job_ids == []


def test_a_platform_the_daemon_cannot_run_is_refused_at_start(
    tmp_path, redis_url, clean_redis, image
):
    entry = repository_entry("octo/any", "https://example.invalid/octo/any.git", image)
    settings, _client = configure(tmp_path, redis_url, [entry])
    env = {**os.environ, **dict(settings.environ)}
    refused = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--platform", "linux/sparc64"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "autobuild worker: --platform linux/sparc64: Platform linux/sparc64 cannot be built on"
        " this amd64 worker: no emulator for sparc64 is known"
    )
