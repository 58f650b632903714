from datetime import UTC, datetime

from core.build import BuildRecord, BuildStatus, Trigger
from core.events import RefType


def make_record(**changes):
    record = BuildRecord(
        id="abc",
        provider="github",
        repository="Codertocat/Hello-World",
        source_type=RefType.BRANCH,
        source_name="master",
        commit="a" * 40,
        image="127.0.0.1:5000/codertocat/hello-world",
        docker_tags=("latest", "master"),
        dockerfile="Dockerfile",
        context="/",
        build_args=(("A", "1"),),
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    return record.with_changes(**changes)


def test_json_has_every_contract_field():
    data = make_record().to_json()
    for field in (
        "id",
        "provider",
        "repository",
        "source_type",
        "source_name",
        "commit",
        "image",
        "docker_tags",
        "dockerfile",
        "context",
        "status",
        "trigger",
        "created_at",
        "started_at",
        "finished_at",
        "digest",
        "error",
    ):
        assert field in data
    assert data["docker_tags"] == ["latest", "master"]
    assert data["created_at"] == "2026-01-02T03:04:05Z"
    assert (
        data["started_at"] is None and data["status"] == "queued" and data["trigger"] == "webhook"
    )


def test_record_survives_a_round_trip():
    record = make_record(
        status=BuildStatus.SUCCESS, trigger=Trigger.MANUAL, digest="sha256:" + "b" * 64
    )
    assert BuildRecord.loads(record.dumps()) == record


def test_terminal_statuses_are_the_contract_ones():
    assert {s.value for s in BuildStatus if s.terminal} == {
        "success",
        "failed",
        "error",
        "timed_out",
        "canceled",
        "superseded",
    }


def test_a_pull_request_build_round_trips_with_its_pull_request_and_push_flag():
    from core.events import PullRequest

    pull = PullRequest(7, "feature/x", "main", True, "refs/pull/7/head")
    record = make_record(
        source_type=RefType.PULL_REQUEST,
        source_name="pr/7",
        trigger=Trigger.PULL_REQUEST,
        push=False,
        pull_request=pull,
    )
    data = record.to_json()
    assert data["pull_request"]["number"] == 7 and data["push"] is False
    assert data["source_type"] == "pull_request" and data["trigger"] == "pull_request"
    again = BuildRecord.loads(record.dumps())
    assert again.pull_request == pull and again.push is False
    assert BuildRecord.loads(make_record().dumps()).pull_request is None


def test_the_worker_that_ran_the_attempt_round_trips_and_is_null_before_one_starts():
    from core.workerid import WorkerIdentity

    assert make_record().to_json()["worker"] is None
    record = make_record(worker=WorkerIdentity(host="build-1", daemon="ABCD:EFGH"))
    assert record.to_json()["worker"] == {"host": "build-1", "daemon": "ABCD:EFGH"}
    assert BuildRecord.loads(record.dumps()) == record
    unknown = make_record(worker=WorkerIdentity(host="build-2"))
    assert BuildRecord.loads(unknown.dumps()).worker == WorkerIdentity("build-2", None)
