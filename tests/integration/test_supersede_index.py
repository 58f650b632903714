"""Supersede reads the active builds of the pushed ref only (a per-ref index in Redis), so a
webhook costs the same with ten thousand builds waiting on other branches; active builds
recorded before the index existed are indexed once, when first needed."""

from __future__ import annotations

import time

import pytest

from buildrules.model import BuildRule, Repository
from core.build import BuildRecord, BuildStatus, new_build_id
from core.control import supersede_older
from core.events import RefType
from core.store import REF_INDEX_MARKER, BuildStore, active_ref_key

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


def test_only_the_same_refs_older_queued_build_is_superseded(clean_redis):
    store = BuildStore(clean_redis)
    others = [record(f"feature-{n}") for n in range(50)]
    older = record("main")
    store.create([*others, older])
    newer = record("main")
    store.create([newer])

    superseded = supersede_older(store, REPOSITORY, [newer])

    assert [r.id for r in superseded] == [older.id]
    assert store.require(older.id).status is BuildStatus.SUPERSEDED
    assert store.require(newer.id).status is BuildStatus.QUEUED
    assert {r.status for r in store.get_many([o.id for o in others])} == {BuildStatus.QUEUED}
    # the ended build left the ref's index; the new one is in it
    key = active_ref_key("github", "octo/app", "branch", "main")
    assert [m.decode() for m in clean_redis.zrange(key, 0, -1)] == [newer.id]


class CountingStore(BuildStore):
    """Remembers how many records each read asked for."""

    def __init__(self, connection) -> None:
        super().__init__(connection)
        self.reads: list[int] = []

    def get_many(self, build_ids):
        self.reads.append(len(build_ids))
        return super().get_many(build_ids)


def test_supersede_reads_the_same_whatever_waits_on_other_branches(clean_redis):
    store = CountingStore(clean_redis)
    supersede_older(store, REPOSITORY, [])  # a web process's first push: indexes (nothing yet)
    store.create([record(f"feature-{n}") for n in range(5000)])
    store.create([record("main")])
    newer = record("main")
    store.create([newer])
    store.reads.clear()

    started = time.perf_counter()
    superseded = supersede_older(store, REPOSITORY, [newer])
    elapsed = time.perf_counter() - started

    assert len(superseded) == 1
    assert store.reads == [2]  # the ref's two builds, not the 5000 others
    assert elapsed < 0.5


def test_active_builds_recorded_before_the_index_are_indexed_when_first_needed(clean_redis):
    store = BuildStore(clean_redis)
    older = record("main")
    store.create([older])
    # as an older version left it: no per-ref index, no marker
    clean_redis.delete(active_ref_key("github", "octo/app", "branch", "main"), REF_INDEX_MARKER)
    newer = record("main")
    fresh = BuildStore(clean_redis)  # a process that has not checked the marker yet
    fresh.create([newer])

    superseded = supersede_older(fresh, REPOSITORY, [newer])

    assert [r.id for r in superseded] == [older.id]
    assert clean_redis.exists(REF_INDEX_MARKER)
