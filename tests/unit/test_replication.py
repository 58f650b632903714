"""The decision before a 2xx: how many replicas the master has (read now and then), and when
there is nothing to wait for. WAIT itself runs against real replicas in
tests/integration/test_redis_wait.py."""

from __future__ import annotations

from typing import Any

import pytest

from core.replication import ReplicaCount, confirm_replicated, replicas_in
from core.settings import Settings, SettingsError


class _InfoAnswers:
    """Answers ``INFO replication`` with the given replica counts, one per call, and counts the
    calls; any other command is a test failure."""

    def __init__(self, *counts: int) -> None:
        self.counts = list(counts)
        self.calls = 0

    def info(self, section: str) -> dict[str, Any]:
        assert section == "replication"
        self.calls += 1
        return {"role": "master", "connected_slaves": self.counts.pop(0)}

    def pipeline(self, transaction: bool = True) -> Any:
        raise AssertionError("nothing is written when there is no replica to wait for")


def test_replicas_are_counted_on_a_master_only():
    assert replicas_in({"role": "master", "connected_slaves": 2}) == 2
    assert replicas_in({"role": "master", "connected_slaves": 0}) == 0
    assert replicas_in({"role": "slave", "connected_slaves": 1}) == 0
    assert replicas_in({"role": "master"}) == 0


def test_the_replica_count_is_read_again_only_after_its_seconds():
    now = [100.0]
    count = ReplicaCount(seconds=5.0, clock=lambda: now[0], grace=0.0)
    connection = _InfoAnswers(1, 0)
    assert count.get(connection) == 1  # type: ignore[arg-type]
    now[0] += 4.9
    assert count.get(connection) == 1  # type: ignore[arg-type]
    assert connection.calls == 1
    now[0] += 0.2
    assert count.get(connection) == 0  # type: ignore[arg-type]
    assert connection.calls == 2


def test_a_forgotten_count_is_read_at_once():
    count = ReplicaCount(seconds=60.0, clock=lambda: 0.0, grace=0.0)
    connection = _InfoAnswers(1, 0)
    assert count.get(connection) == 1  # type: ignore[arg-type]
    count.forget()
    assert count.get(connection) == 0  # type: ignore[arg-type]


def test_no_replica_means_no_wait():
    connection = _InfoAnswers(0)
    assert confirm_replicated(connection, ReplicaCount(), 1000) == 0  # type: ignore[arg-type]
    assert connection.calls == 1


def test_a_wait_of_zero_asks_redis_nothing():
    connection = _InfoAnswers()
    assert confirm_replicated(connection, ReplicaCount(), 0) == 0  # type: ignore[arg-type]
    assert connection.calls == 0


def test_the_wait_setting_defaults_to_a_second_and_stays_under_the_web_timeout():
    assert Settings.from_env({}).redis_wait_ms == 1000
    assert Settings.from_env({"AUTOBUILD_REDIS_WAIT_MS": "0"}).redis_wait_ms == 0
    assert Settings.from_env({"AUTOBUILD_REDIS_WAIT_MS": "4000"}).redis_wait_ms == 4000
    with pytest.raises(SettingsError, match="AUTOBUILD_REDIS_WAIT_MS must be at most 4000"):
        Settings.from_env({"AUTOBUILD_REDIS_WAIT_MS": "5000"})
    with pytest.raises(SettingsError, match="AUTOBUILD_REDIS_WAIT_MS"):
        Settings.from_env({"AUTOBUILD_REDIS_WAIT_MS": "-1"})


class _Replication:
    """Answers ``INFO replication`` as given, with a replication id."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}

    def info(self, section: str) -> dict[str, Any]:
        return self.answer


def test_a_master_that_just_lost_its_replica_still_waits_for_one():
    now = [0.0]
    count = ReplicaCount(seconds=0.0, clock=lambda: now[0], grace=60.0)
    old = _Replication()
    old.answer = {"role": "master", "connected_slaves": 1, "master_replid": "old"}
    assert count.get(old) == 1  # type: ignore[arg-type]
    now[0] = 10.0  # its replica was promoted; it answers until the sentinels demote it
    old.answer = {"role": "master", "connected_slaves": 0, "master_replid": "old"}
    assert count.get(old) == 1  # type: ignore[arg-type]
    promoted = _Replication()  # the new master: a new replication id, no replica yet
    promoted.answer = {"role": "master", "connected_slaves": 0, "master_replid": "new"}
    assert count.get(promoted) == 0  # type: ignore[arg-type]
    now[0] = 70.1  # a master alone for longer than the grace is a master alone
    assert count.get(old) == 0  # type: ignore[arg-type]
