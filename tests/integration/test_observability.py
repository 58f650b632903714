"""Observability on the real services: /metrics (builds by status, build and queue durations,
queue depth, workers, webhook deliveries), structured log lines with the build id from the web
and the worker processes, and /readyz reporting each dependency."""

from __future__ import annotations

import logging
import re
import textwrap
import uuid

import pytest
from rq import Worker
from rq.serializers import JSONSerializer

from core.build import BuildStatus
from core.logfmt import parse_logfmt
from core.queue import build_queue
from tests.integration.webhook_helpers import (
    github_push,
    make_app,
    make_settings,
    post_github,
    run_burst_worker,
)

pytestmark = pytest.mark.integration

SECRET = "observability-secret-0123"
REPO = "octo/observed"
SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$")


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``{(name, labels): value}`` from a Prometheus text exposition; checks every line's form."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        found = SAMPLE.match(line)
        assert found, f"not a sample line: {line!r}"
        name, raw_labels, value = found.groups()
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', raw_labels or ""))
        samples[(name, labels)] = float(value)
    return samples


def metric(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def config_path(tmp_path, make_git_repo, base_image, registry_url):
    repo = make_git_repo(
        {"Dockerfile": f"FROM {base_image}\nRUN echo observed-{uuid.uuid4().hex}\n"}
    )
    path = tmp_path / "autobuild.yml"
    path.write_text(
        textwrap.dedent(
            f"""
            repositories:
              - provider: github
                name: {REPO}
                clone_url: {repo.url}
                image: {registry_url}/autobuild-test/observed-{uuid.uuid4().hex[:10]}
                webhook_secret_env: OBSERVED_SECRET
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
            """
        )
    )
    return path, repo


@pytest.fixture
def settings(config_path, tmp_path, redis_url, clean_redis):
    return make_settings(config_path[0], redis_url, tmp_path, OBSERVED_SECRET=SECRET)


def scrape(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type == "text/plain; version=0.0.4; charset=utf-8"
    return parse_metrics(answer.get_data(as_text=True))


def test_metrics_count_webhook_deliveries_by_provider_and_outcome(client):
    before = scrape(client)
    post_github(client, SECRET, github_push(REPO, "refs/heads/master", "1" * 40))
    post_github(client, "wrong-secret", github_push(REPO, "refs/heads/master", "2" * 40))
    post_github(client, SECRET, github_push(REPO, "refs/heads/nomatch", "3" * 40))
    client.post("/webhooks/nowhere", data=b"{}")
    after = scrape(client)

    def delta(**labels):
        return metric(after, "autobuild_webhook_deliveries_total", **labels) - metric(
            before, "autobuild_webhook_deliveries_total", **labels
        )

    assert delta(provider="github", outcome="queued") == 1
    assert delta(provider="github", outcome="unauthorized") == 1
    assert delta(provider="github", outcome="ignored") == 1
    assert delta(provider="unknown", outcome="not_configured") == 1  # no label from the URL


def test_metrics_show_builds_by_status_and_the_queue_depth(client, settings, redis_conn):
    answer = post_github(client, SECRET, github_push(REPO, "refs/heads/master", "4" * 40))
    assert answer.status_code == 202
    samples = scrape(client)
    assert metric(samples, "autobuild_builds", status="queued") == 1
    assert metric(samples, "autobuild_builds", status="building") == 0
    assert metric(samples, "autobuild_queue_depth") == 1
    assert metric(samples, "autobuild_workers") == 0

    worker = Worker(
        [build_queue(redis_conn, settings.queue_name)],
        connection=redis_conn,
        serializer=JSONSerializer,
        name=f"observer-{uuid.uuid4().hex[:8]}",
    )
    worker.register_birth()
    try:
        assert metric(scrape(client), "autobuild_workers") == 1
    finally:
        worker.register_death()


def test_a_finished_build_feeds_the_counters_and_histograms_and_logs_its_id(
    client, settings, config_path
):
    _, repo = config_path
    answer = post_github(client, SECRET, github_push(REPO, "refs/heads/master", repo.head()))
    (build,) = answer.get_json()["builds"]

    result = run_burst_worker(settings)

    record = client.get(f"/api/v1/builds/{build['id']}").get_json()
    assert record["status"] == "success", (record["error"], result.stderr[-3000:])
    samples = scrape(client)
    assert metric(samples, "autobuild_builds_finished_total", status="success") == 1
    assert metric(samples, "autobuild_build_duration_seconds_count", status="success") == 1
    inf_bucket = metric(
        samples, "autobuild_build_duration_seconds_bucket", status="success", le="+Inf"
    )
    assert inf_bucket == 1
    assert metric(samples, "autobuild_build_duration_seconds_sum", status="success") > 0
    assert metric(samples, "autobuild_queue_duration_seconds_count") == 1
    assert metric(samples, "autobuild_builds", status="queued") == 0
    assert metric(samples, "autobuild_queue_depth") == 0

    # The worker process logs key=value lines, and the lines about the build carry its id.
    lines = [parse_logfmt(line) for line in result.stderr.splitlines() if line.startswith("ts=")]
    assert lines, result.stderr[-2000:]
    assert all({"ts", "level", "logger", "msg"} <= set(fields) for fields in lines)
    about_build = [fields for fields in lines if fields.get("build_id") == build["id"]]
    assert about_build, result.stderr[-2000:]
    assert any(fields.get("event") == "build_finished" for fields in about_build)
    finished = next(f for f in about_build if f.get("event") == "build_finished")
    assert finished["status"] == "success"


def test_the_web_logs_each_webhook_delivery_with_its_build_ids(client, caplog):
    caplog.set_level(logging.INFO, logger="app")
    answer = post_github(
        client, SECRET, github_push(REPO, "refs/heads/master", "5" * 40), delivery="d-123"
    )
    (build,) = answer.get_json()["builds"]
    (entry,) = [r for r in caplog.records if getattr(r, "event", None) == "webhook"]
    assert entry.build_id == build["id"]
    assert entry.provider == "github" and entry.outcome == "queued" and entry.status == 202
    assert entry.delivery_id == "d-123"


def test_readyz_reports_each_dependency(client, settings, redis_conn, registry_url):
    answer = client.get("/readyz")
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["ready"] is True
    assert body["checks"] == {
        "redis": "ok",
        "docker": "ok",
        "configuration": "ok (1 repositories)",
    }
    assert body["registries"] == {registry_url: "ok"}
    assert body["workers"].startswith("no worker is listening")

    worker = Worker(
        [build_queue(redis_conn, settings.queue_name)],
        connection=redis_conn,
        serializer=JSONSerializer,
        name=f"ready-{uuid.uuid4().hex[:8]}",
    )
    worker.register_birth()
    try:
        assert client.get("/readyz").get_json()["workers"] == "ok (1 worker)"
    finally:
        worker.register_death()


def test_readyz_names_an_unreachable_registry_without_failing_readiness(tmp_path, redis_url):
    config = tmp_path / "down.yml"
    config.write_text(
        textwrap.dedent(
            """
            repositories:
              - provider: github
                name: octo/down
                clone_url: https://git.example.invalid/octo/down.git
                image: 127.0.0.1:1/octo/down
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
            """
        )
    )
    client = make_app(make_settings(config, redis_url, tmp_path)).test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["registries"]["127.0.0.1:1"].startswith("unreachable")


def test_build_statuses_in_metrics_cover_every_status(client):
    samples = scrape(client)
    for status in BuildStatus:
        name = "autobuild_builds_finished_total" if status.terminal else "autobuild_builds"
        assert (name, frozenset({("status", status.value)})) in samples
