"""Which status changes notify, and what the build page shows of a target."""

from __future__ import annotations

import pytest

from buildrules.model import NotifyTarget
from core.build import BuildRecord, BuildStatus
from core.events import RefType
from core.notifications import Answer, event_for
from worker.notify.targets import display_url, target_of

S = BuildStatus


def record(status: BuildStatus) -> BuildRecord:
    return BuildRecord(
        id="b1",
        provider="github",
        repository="octo/hello",
        source_type=RefType.BRANCH,
        source_name="master",
        commit="c" * 40,
        image="registry.example.com/octo/hello",
        docker_tags=("latest",),
        dockerfile="Dockerfile",
        context="/",
        status=status,
    )


@pytest.mark.parametrize(
    ("before", "after", "event"),
    [
        (None, S.QUEUED, "build.queued"),
        (S.QUEUED, S.CLONING, "build.started"),
        (S.CLONING, S.BUILDING, None),
        (S.BUILDING, S.PUSHING, None),
        (S.PUSHING, S.SUCCESS, "build.succeeded"),
        (S.BUILDING, S.FAILED, "build.failed"),
        (S.CLONING, S.ERROR, "build.errored"),
        (S.BUILDING, S.TIMED_OUT, "build.timed_out"),
        (S.QUEUED, S.CANCELED, "build.canceled"),
        (S.QUEUED, S.SUPERSEDED, "build.superseded"),
        (S.BUILDING, S.QUEUED, "build.queued"),  # an automatic retry queues it again
        (None, S.SUCCESS, None),  # recorded as already ended (demo data): nothing happened
    ],
)
def test_a_status_change_is_the_event_it_should_be(before, after, event):
    assert event_for(record(before) if before else None, record(after)) == event


def test_a_webhook_url_shows_without_its_path_or_query():
    assert display_url("https://hooks.example.com/services/T0/B0/s3cret") == (
        "https://hooks.example.com/…"
    )
    assert display_url("http://127.0.0.1:8080/?token=x") == "http://127.0.0.1:8080/…"
    assert display_url("https://deploy.example.com") == "https://deploy.example.com"


def test_an_apprise_target_shows_only_its_variable_name():
    target = target_of(NotifyTarget(events=("build.failed",), apprise_env="TEAM_SLACK"))
    assert target.label == "apprise ($TEAM_SLACK)"
    assert target.wants("build.failed", record(S.FAILED))
    assert not target.wants("build.succeeded", record(S.SUCCESS))


def test_an_answer_round_trips_through_its_stored_form():
    answer = Answer("status", "status", "github", "build.queued", True, "HTTP 201", 1, "t", ("a",))
    assert Answer.loads(answer.dumps()) == answer
