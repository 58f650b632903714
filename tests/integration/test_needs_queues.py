"""Builds with needs on the real Redis and rq: the queue each goes to (dispatch's transaction
and a plain enqueue alike), the queues a worker with given capabilities serves and in which
order, one concurrency key per repository whatever the queue (rq promotes a waiting build into
its own needs queue), a cancel that takes a waiting build off its needs queue and frees its
slot, the queue depth that counts every queue, and a retry or a recovered build routed by the
needs its record keeps."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from buildrules.model import BuildPlan, BuildRule, Repository
from core.build import BuildRecord, BuildStatus, Trigger, new_build_id
from core.capabilities import Capabilities, needs_key
from core.control import retry_build
from core.dispatch import dispatch
from core.events import RefType
from core.needsqueues import needs_in_use, queue_lengths, queues_for, total_queued
from core.queue import build_queue, enqueue_for, job_id_for, withdraw
from core.recovery import requeue_or_end
from core.store import BuildStore

pytestmark = pytest.mark.integration

BIG = ("big-memory",)
ARM_BIG = ("big-memory", "linux/arm64")


def repository(**overrides: Any) -> Repository:
    fields: dict[str, Any] = {
        "provider": "github",
        "name": f"octo/{uuid.uuid4().hex[:6]}",
        "clone_url": "https://example.invalid/octo/app.git",
        "image": "127.0.0.1:5000/octo/app",
        "build_rules": (BuildRule(source_type=RefType.BRANCH, source="/.*/", docker_tags=("x",)),),
    }
    return Repository(**{**fields, **overrides})


def record(repo: Repository, needs: tuple[str, ...] = (), branch: str = "main") -> BuildRecord:
    return BuildRecord(
        id=new_build_id(),
        provider=repo.provider,
        repository=repo.name,
        source_type=RefType.BRANCH,
        source_name=branch,
        commit=uuid.uuid4().hex * 2 + "abcdefgh",
        image=repo.image,
        docker_tags=("x",),
        dockerfile="Dockerfile",
        context="/",
        needs=needs,
    )


@pytest.fixture
def base(clean_redis):
    return build_queue(clean_redis, f"needs-{uuid.uuid4().hex[:8]}")


def status_of(connection, rec: BuildRecord) -> JobStatus | None:
    job = Job.fetch(job_id_for(rec), connection=connection, serializer=JSONSerializer)
    return job.get_status()


def test_a_build_with_needs_goes_to_its_needs_queue_and_one_without_stays(clean_redis, base):
    repo = repository(max_concurrent_builds=5)
    plain, big = record(repo), record(repo, BIG)
    enqueue_for(base, plain, repo)
    enqueue_for(base, big, repo)
    assert base.job_ids == [job_id_for(plain)]
    assert build_queue(clean_redis, f"{base.name}:needs:big-memory").job_ids == [job_id_for(big)]
    assert needs_in_use(clean_redis, base.name) == [BIG]
    assert queue_lengths(clean_redis, base.name) == {(): 1, BIG: 1}
    assert total_queued(clean_redis, base.name) == 2


def test_dispatch_queues_a_plans_needs_in_its_one_transaction(clean_redis, base):
    repo = repository()
    store = BuildStore(clean_redis)
    plan = BuildPlan(
        provider=repo.provider,
        repository=repo.name,
        image=repo.image,
        source_type=RefType.BRANCH,
        source_name="main",
        commit="c" * 40,
        docker_tags=("x",),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=(0,),
        needs=ARM_BIG,
    )
    result = dispatch(store, base, repo, [plan], trigger=Trigger.WEBHOOK, delivery_id="d1")
    (built,) = result.builds
    assert store.require(built.id).needs == ARM_BIG
    needs_queue = build_queue(clean_redis, f"{base.name}:needs:big-memory,linux/arm64")
    assert needs_queue.job_ids == [job_id_for(built)] and base.job_ids == []
    assert clean_redis.sismember(needs_key(base.name), "big-memory,linux/arm64")


def test_a_worker_serves_the_needs_it_covers_most_needs_first_then_the_build_queue(
    clean_redis, base
):
    repo = repository(max_concurrent_builds=9)
    for needs in [BIG, ARM_BIG, ("gpu",), ("linux/amd64",), ("linux/arm/v7",)]:
        enqueue_for(base, record(repo, needs), repo)
    big_amd = Capabilities(platforms=("linux/amd64", "linux/arm64"), labels=("big-memory",))
    names = [q.name for q in queues_for(clean_redis, base.name, big_amd)]
    assert names == [
        f"{base.name}:needs:big-memory,linux/arm64",
        f"{base.name}:needs:big-memory",
        f"{base.name}:needs:linux/amd64",
        base.name,
    ]
    arm = Capabilities(platforms=("linux/arm",))
    assert [q.name for q in queues_for(clean_redis, base.name, arm)] == [
        f"{base.name}:needs:linux/arm/v7",
        base.name,
    ]
    assert [q.name for q in queues_for(clean_redis, base.name, Capabilities())] == [base.name]


def test_one_concurrency_slot_per_repository_whatever_the_queue(clean_redis, base):
    repo = repository(max_concurrent_builds=1)
    first, second = record(repo), record(repo, BIG, branch="other")
    enqueue_for(base, first, repo)
    enqueue_for(base, second, repo)  # waits for the repository's one slot
    needs_queue = build_queue(clean_redis, f"{base.name}:needs:big-memory")
    assert needs_queue.job_ids == [] and status_of(clean_redis, second) == JobStatus.RATE_LIMITED
    base.remove(job_id_for(first))
    Job.fetch(job_id_for(first), connection=clean_redis, serializer=JSONSerializer).cancel()
    # the slot freed, rq promotes the waiting build into its own queue, not the first's
    assert needs_queue.job_ids == [job_id_for(second)]
    assert status_of(clean_redis, second) == JobStatus.QUEUED


def test_withdrawing_a_waiting_build_takes_it_off_its_needs_queue_and_frees_the_slot(
    clean_redis, base
):
    repo = repository(max_concurrent_builds=1)
    first, second = record(repo, ("gpu",)), record(repo, ("gpu",), branch="other")
    enqueue_for(base, first, repo)
    enqueue_for(base, second, repo)
    gpu_queue = build_queue(clean_redis, f"{base.name}:needs:gpu")
    assert gpu_queue.job_ids == [job_id_for(first)]
    assert withdraw(base, first) is True
    assert gpu_queue.job_ids == [job_id_for(second)]  # promoted into the freed slot
    assert status_of(clean_redis, first) == JobStatus.CANCELED
    assert withdraw(base, first) is False  # already off the queue
    assert withdraw(base, record(repo, ("gpu",))) is False  # never queued


def test_a_retry_keeps_the_needs_of_the_build_it_retries(clean_redis, base):
    repo = repository(max_concurrent_builds=5)
    store = BuildStore(clean_redis)
    original = record(repo, ARM_BIG)
    store.create([original])
    # the rules no longer ask for anything: the record's needs route the retry all the same
    retried = retry_build(store, base, repo, original.id)
    assert retried.needs == ARM_BIG and retried.retry_of == original.id
    needs_queue = build_queue(clean_redis, f"{base.name}:needs:big-memory,linux/arm64")
    assert needs_queue.job_ids == [job_id_for(retried)]


def test_a_build_queued_again_after_its_worker_was_lost_goes_to_its_needs_queue(clean_redis, base):
    repo = repository(max_concurrent_builds=5, retries=2)
    store = BuildStore(clean_redis)
    lost = record(repo, BIG)
    store.create([lost])
    running = store.transition(lost.id, BuildStatus.BUILDING)
    again = requeue_or_end(store, base, repo, running, "The worker was lost.")
    assert again is not None and again.requeued and again.record.attempt == 2
    needs_queue = build_queue(clean_redis, f"{base.name}:needs:big-memory")
    assert needs_queue.job_ids == [job_id_for(again.record)] and base.job_ids == []
