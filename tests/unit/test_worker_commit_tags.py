"""The worker's finishing of ``{commit_date}`` tags after the clone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from worker.commit_tags import commit_date_tags, finish_tags, preview_tags
from worker.errors import UserBuildError

SHA = "1234567890abcdef1234567890abcdef12345678"


def test_finishes_commit_date_tags_in_utc_and_keeps_the_others() -> None:
    committed = datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    tags = ("latest", "c-{commit_date:%Y%m%d%H}", "feat/{{x}}-{commit_date:%Y}")
    assert finish_tags(tags, SHA, committed) == ("latest", "c-2026113022", "feat-x--2026")


def test_duplicates_after_finishing_are_dropped() -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    assert finish_tags(("20261201", "{commit_date:%Y%m%d}"), SHA, moment) == ("20261201",)


def test_no_deferred_tag_changes_nothing() -> None:
    assert commit_date_tags(("latest", "v1"), SHA, None) is None


def test_an_unknown_commit_date_fails_the_build_saying_why() -> None:
    with pytest.raises(UserBuildError, match="commit's date could not be read"):
        commit_date_tags(("{commit_date:%Y}",), SHA, None)


def test_preview_gives_valid_tag_shapes_before_the_clone() -> None:
    assert preview_tags(("n-{commit_date:%Y%m%d}", "latest"), SHA) == ("n-20000101", "latest")
