"""Build-list filters read their indexes, not every build, and old builds expire (issue 18, item
9a). A few thousand records in the real Redis; the keys read are counted at ``MGET``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from buildrules.model import Config
from core.build import BuildStatus, utcnow
from core.build_index import (
    INDEX_MARKER,
    prune_expired,
    repository_providers_key,
    status_index_key,
)
from core.settings import Settings
from core.store import ALL_BUILDS, BuildStore, build_key, log_key
from tests.integration.browser_helpers import make_record
from worker.maintenance import Maintenance

pytestmark = pytest.mark.integration

MANY = 3000


class CountingStore(BuildStore):
    """A store that counts the build records it reads."""

    read = 0

    def get_many(self, build_ids: Any) -> Any:
        self.read += len(build_ids)
        return super().get_many(build_ids)


def fill(store: BuildStore) -> None:
    records = [make_record(status=BuildStatus.SUCCESS) for _ in range(MANY)]
    for start in range(0, MANY, 500):
        store.create(records[start : start + 500])


@pytest.fixture
def store(clean_redis):
    counting = CountingStore(clean_redis)
    counting.recent(limit=1)  # a fresh install: the one-time indexing of older builds is done
    return counting


def test_an_unknown_repository_reads_no_build(store):
    fill(store)
    store.read = 0
    assert store.recent(repository="octo/nothere", limit=500) == []
    assert store.recent(provider="github", repository="octo/nothere") == []
    assert store.read == 0


def test_a_rare_status_reads_only_its_builds(store):
    fill(store)
    canceled = [make_record(repository="octo/other") for _ in range(2)]
    store.create(canceled)
    for record in canceled:
        store.transition(record.id, BuildStatus.CANCELED)
    store.read = 0

    found = store.recent(statuses={BuildStatus.CANCELED}, limit=500)

    assert sorted(r.id for r in found) == sorted(r.id for r in canceled)
    assert store.read == 2
    store.read = 0
    assert len(store.recent(repository="octo/other")) == 2  # no provider: its index too
    assert store.read == 2
    store.read = 0
    assert store.recent(repository="octo/ui-demo", statuses={BuildStatus.CANCELED}) == []
    assert store.read == 0


def test_builds_recorded_before_the_indexes_are_indexed_once(clean_redis):
    old = BuildStore(clean_redis)
    ended = make_record(repository="octo/legacy", status=BuildStatus.FAILED)
    old.create([ended])
    clean_redis.delete(
        INDEX_MARKER, status_index_key(BuildStatus.FAILED), repository_providers_key("octo/legacy")
    )

    fresh = CountingStore(clean_redis)
    assert [r.id for r in fresh.recent(statuses={BuildStatus.FAILED})] == [ended.id]
    assert [r.id for r in fresh.recent(repository="octo/legacy")] == [ended.id]
    assert clean_redis.exists(INDEX_MARKER)


def test_old_ended_builds_expire_with_their_logs_and_index_entries(clean_redis):
    store = BuildStore(clean_redis)
    long_ago = utcnow() - timedelta(days=100)
    old = make_record(status=BuildStatus.SUCCESS, created_at=long_ago)
    old_running = make_record(status=BuildStatus.BUILDING, created_at=long_ago)
    recent = make_record(status=BuildStatus.SUCCESS)
    store.create([old, old_running, recent])
    clean_redis.xadd(log_key(old.id), {"text": "a line"})
    settings = Settings.from_env({"AUTOBUILD_BUILD_RETENTION_DAYS": "90"})

    assert Maintenance(settings, Config(), clean_redis).expire_old_builds() == 1

    assert not clean_redis.exists(build_key(old.id), log_key(old.id))
    assert clean_redis.zscore(ALL_BUILDS, old.id) is None
    assert clean_redis.zscore(status_index_key(BuildStatus.SUCCESS), old.id) is None
    assert store.get(old_running.id) is not None and store.get(recent.id) is not None
    assert prune_expired(clean_redis, (utcnow() - timedelta(days=90)).timestamp(), log_key("")) == 0
