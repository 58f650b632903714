"""Base-image rebuilds on the real services: a new FROM image in the registry rebuilds once."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from typing import Any

import pytest

from buildrules.matcher import plans_for_ref
from buildrules.model import Repository
from core.base_images import BaseImageStore, rule_key_of
from core.build import BuildRecord, Trigger
from core.events import RefType
from core.logs import read_log
from core.records import record_from_plan
from core.store import active_ref_key
from tests.integration.trust_helpers import push_by_hand
from tests.integration.worker_helpers import make_context, make_repository, unique_image
from worker.basecheck import BaseCheck
from worker.context import WorkerContext
from worker.jobs import execute_build
from worker.maintenance import Maintenance

pytestmark = pytest.mark.integration


def new_image_of(docker_api: Any, base_image: str, image: str) -> str:
    """Build a new image FROM ``base_image`` (a unique label) and push it as ``image:latest``
    by hand, not through Autobuild; the registry's new digest."""
    dockerfile = f"FROM {base_image}\nLABEL test.build={uuid.uuid4().hex}\n"
    local = f"autobuild-test-local/{uuid.uuid4().hex[:12]}"
    for _chunk in docker_api.build(fileobj=io.BytesIO(dockerfile.encode()), tag=local, rm=True):
        pass
    try:
        return push_by_hand(docker_api, local, image, "latest")
    finally:
        docker_api.remove_image(local, force=True)


def build_master(context: WorkerContext, repository: Repository, commit: str) -> BuildRecord:
    """A webhook-like build of master (rule 0) run to success by this process."""
    (plan,) = plans_for_ref(repository, RefType.BRANCH, "master", commit)
    record = record_from_plan(plan, Trigger.WEBHOOK)
    context.store.create([record])
    assert execute_build(context, record.id) == "success", context.store.require(record.id).error
    return context.store.require(record.id)


def ref(repository: Repository) -> tuple[str, str, str, str]:
    return (repository.provider, repository.name, "branch", "master")


def first_lines(context: WorkerContext, build_id: str, count: int) -> list[str]:
    return [line.text for line in read_log(context.redis, build_id)][:count]


def test_a_new_base_image_rebuilds_the_dependent_repository_once(
    tmp_path, redis_url, clean_redis, base_image, docker_api, registry_url, make_git_repo
):
    base = unique_image(registry_url, "base-a")
    old = new_image_of(docker_api, base_image, base)
    repo = make_git_repo({"Dockerfile": f"FROM {base}:latest\nRUN echo {uuid.uuid4().hex}\n"})
    image = unique_image(registry_url, "uses-a")
    repository = make_repository(repo.url, image, rebuild_on_base_change=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    build_master(context, repository, repo.head())
    check = BaseCheck(context.settings, context.config, clean_redis)
    assert check.run() == ()  # nothing changed yet

    new = new_image_of(docker_api, base_image, base)
    assert new != old
    workers = [Maintenance(context.settings, context.config, clean_redis) for _ in range(2)]
    for worker in workers:  # two workers' housekeeping: one wins the interval's check
        worker.run_once()
    (queued_id,) = [m.decode() for m in clean_redis.zrange(active_ref_key(*ref(repository)), 0, -1)]
    queued = context.store.require(queued_id)
    assert queued.trigger is Trigger.BASE_IMAGE
    assert (queued.source_name, queued.commit, queued.rule_indexes) == ("master", repo.head(), (0,))
    (line,) = first_lines(context, queued.id, 1)
    assert f"{base}:latest" in line and old in line and new in line
    assert check.run() == ()  # the change asked for its one build

    assert execute_build(context, queued.id) == "success"
    assert first_lines(context, queued.id, 1) == [line]
    use = BaseImageStore(clean_redis).get(rule_key_of(repository, repository.build_rules[0]))
    assert use is not None and use.build_id == queued.id and use.bases == ((f"{base}:latest", new),)
    assert check.run() == ()


def test_a_repository_built_from_its_own_image_does_not_rebuild_itself(
    tmp_path, redis_url, clean_redis, base_image, docker_api, registry_url, make_git_repo
):
    image = unique_image(registry_url, "self")
    seed = new_image_of(docker_api, base_image, image)
    repo = make_git_repo({"Dockerfile": f"FROM {image}:latest\nRUN echo {uuid.uuid4().hex}\n"})
    repository = make_repository(repo.url, image, rebuild_on_base_change=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    built = build_master(context, repository, repo.head())
    assert built.digest != seed  # its own image moved on: the base it was built from "changed"
    use = BaseImageStore(clean_redis).get(rule_key_of(repository, repository.build_rules[0]))
    assert use is not None and [ref for ref, _digest in use.bases] == [f"{image}:latest"]
    check = BaseCheck(context.settings, context.config, clean_redis)
    assert check.run() == ()
    new_image_of(docker_api, base_image, image)  # and whatever else moves its tag
    assert check.run() == ()


def test_without_rebuild_on_base_change_a_new_base_rebuilds_nothing(
    tmp_path, redis_url, clean_redis, base_image, docker_api, registry_url, make_git_repo
):
    base = unique_image(registry_url, "base-b")
    new_image_of(docker_api, base_image, base)
    repo = make_git_repo({"Dockerfile": f"FROM {base}:latest\nRUN echo {uuid.uuid4().hex}\n"})
    repository = make_repository(repo.url, unique_image(registry_url, "uses-b"))
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    build_master(context, repository, repo.head())
    new_image_of(docker_api, base_image, base)
    assert BaseCheck(context.settings, context.config, clean_redis).run() == ()
    rebuilding = replace(repository, rebuild_on_base_change=True)
    config = replace(context.config, repositories=(rebuilding,))
    assert len(BaseCheck(context.settings, config, clean_redis).run()) == 1


def test_one_check_per_interval_across_workers(tmp_path, redis_url, clean_redis):
    context = make_context(tmp_path, redis_url, clean_redis, [])
    first = BaseImageStore(clean_redis)
    assert first.claim_check(3600, "worker-1") is True
    assert BaseImageStore(clean_redis).claim_check(3600, "worker-2") is False
    assert 0 < clean_redis.pttl("autobuild:base-check:claim") <= 3600 * 1000
    assert BaseCheck(context.settings, context.config, clean_redis).run_if_due() == ()
