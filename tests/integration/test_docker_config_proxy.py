"""docker-py reads proxies from ``~/.docker/config.json`` and turns them into build args of every
build (issue 18, item 9c): the worker's builds never see them, with BuildKit and the legacy
builder."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

PROXY = "http://proxy.invalid:3128"


@pytest.mark.parametrize("builder", ["buildkit", "legacy"])
def test_a_build_does_not_see_the_proxies_of_the_workers_docker_config(
    tmp_path, monkeypatch, redis_url, clean_redis, base_image, make_git_repo, registry_url, builder
):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    proxies = {"httpProxy": PROXY, "httpsProxy": PROXY, "noProxy": "leak.invalid"}
    (home / ".docker" / "config.json").write_text(json.dumps({"proxies": {"default": proxies}}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    step = f"RUN echo run-{uuid.uuid4().hex} && (env | grep -i proxy || echo no-proxy-variables)"
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\n{step}\n"})
    repository = make_repository(repo.url, unique_image(registry_url, "proxy"), builder=builder)
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository], environ={"HOME": str(home)}
    )
    record = create_record(context.store, repository, repo.head())

    status = execute_build(context, record.id)

    log = log_text(clean_redis, record.id)
    assert status == "success", context.store.require(record.id).error
    assert "no-proxy-variables" in log
    assert "proxy.invalid" not in log and "leak.invalid" not in log
