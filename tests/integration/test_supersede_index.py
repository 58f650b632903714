"""A dispatch's supersede reads the active builds of the pushed ref only (a per-ref index in
Redis), so a webhook costs the same with ten thousand builds waiting on other branches; active
builds recorded before the index existed are indexed once, when first needed."""

from __future__ import annotations

import time

import pytest

from buildrules.model import BuildPlan, BuildRule, Repository
from core.build import BuildRecord, BuildStatus, Trigger, new_build_id
from core.dispatch import dispatch
from core.events import RefType
from core.queue import build_queue
from core.store import REF_INDEX_MARKER, BuildStore, DispatchView, active_ref_key

pytestmark = pytest.mark.integration

REPOSITORY = Repository(
    provider="github",
    name="octo/app",
    clone_url="https://example.invalid/octo/app.git",
    image="127.0.0.1:5000/octo/app",
    build_rules=(BuildRule(source_type=RefType.BRANCH, source="/.*/", docker_tags=("x",)),),
)


def record(branch: str, tag: str | None = None) -> BuildRecord:
    return BuildRecord(
        id=new_build_id(),
        provider="github",
        repository="octo/app",
        source_type=RefType.BRANCH,
        source_name=branch,
        commit="a" * 40,
        image="127.0.0.1:5000/octo/app",
        docker_tags=(tag or branch,),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=(0,),
    )


def push(store: BuildStore, branch: str) -> tuple[BuildRecord, list[BuildRecord]]:
    """Dispatch a push to ``branch``: the build it queued and the builds it superseded."""
    plan = BuildPlan(
        provider="github",
        repository="octo/app",
        image="127.0.0.1:5000/octo/app",
        source_type=RefType.BRANCH,
        source_name=branch,
        commit="b" * 40,
        docker_tags=(branch,),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=(0,),
    )
    queue = build_queue(store.redis, "test-supersede-index")
    result = dispatch(store, queue, REPOSITORY, [plan], trigger=Trigger.WEBHOOK, delivery_id=None)
    return result.builds[0], list(result.superseded)


def test_only_the_same_refs_older_queued_build_is_superseded(clean_redis):
    store = BuildStore(clean_redis)
    others = [record(f"feature-{n}") for n in range(50)]
    older = record("main")
    store.create([*others, older])

    newer, superseded = push(store, "main")

    assert [r.id for r in superseded] == [older.id]
    assert store.require(older.id).status is BuildStatus.SUPERSEDED
    assert store.require(newer.id).status is BuildStatus.QUEUED
    assert {r.status for r in store.get_many([o.id for o in others])} == {BuildStatus.QUEUED}
    # the ended build left the ref's index; the new one is in it
    key = active_ref_key("github", "octo/app", "branch", "main")
    assert [m.decode() for m in clean_redis.zrange(key, 0, -1)] == [newer.id]


class CountingStore(BuildStore):
    """Remembers which active builds each dispatch read."""

    def __init__(self, connection) -> None:
        super().__init__(connection)
        self.reads: list[int] = []

    def read_for_dispatch(self, *args, **kwargs) -> DispatchView:
        view = super().read_for_dispatch(*args, **kwargs)
        self.reads.append(len(view.active))
        return view


def test_supersede_reads_the_same_whatever_waits_on_other_branches(clean_redis):
    store = CountingStore(clean_redis)
    push(store, "first")  # a web process's first push: indexes (nothing yet)
    store.create([record(f"feature-{n}") for n in range(5000)])
    store.create([record("main")])
    store.reads.clear()

    started = time.perf_counter()
    _newer, superseded = push(store, "main")
    elapsed = time.perf_counter() - started

    assert len(superseded) == 1
    assert store.reads == [1]  # the ref's one build, not the 5000 others
    assert elapsed < 0.5


def test_active_builds_recorded_before_the_index_are_indexed_when_first_needed(clean_redis):
    store = BuildStore(clean_redis)
    older = record("main")
    store.create([older])
    # as an older version left it: no per-ref index, no marker
    clean_redis.delete(active_ref_key("github", "octo/app", "branch", "main"), REF_INDEX_MARKER)
    fresh = BuildStore(clean_redis)  # a process that has not checked the marker yet

    _newer, superseded = push(fresh, "main")

    assert [r.id for r in superseded] == [older.id]
    assert clean_redis.exists(REF_INDEX_MARKER)
