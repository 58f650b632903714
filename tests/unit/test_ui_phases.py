"""What the build page derives from a record and its log: phases, progress, formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.ui import Phase, phases_for, seconds_text, split_repository
from core.build import BuildRecord, BuildStatus
from core.events import RefType
from core.logs import LogLine

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64


def record(status, started=True, tags=("latest", "edge")):
    return BuildRecord(
        id="b1", provider="github", repository="octo/app", source_type=RefType.BRANCH,
        source_name="master", commit="c" * 40, image="127.0.0.1:5000/octo/app", docker_tags=tags,
        dockerfile="Dockerfile", context="/", status=status,
        started_at=T0 if started else None,
    )  # fmt: skip


def log(*entries):
    lines = []
    for n, entry in enumerate(entries):
        text, phase = entry if isinstance(entry, tuple) else (entry, None)
        lines.append(LogLine(f"{n}-0", T0 + timedelta(seconds=n), text, phase))
    return lines


CLONE = [("==> Fetching commit ccccccc", "clone"), ("Commit ccccccc fetched", "clone")]
BUILD = [("==> Building", "build"), ("Step 1/4 : FROM base", "build"),
         ("Step 2/4 : RUN make", "build"), ("compiling", "build")]  # fmt: skip
PUSH = [("==> Pushing", "push"), (f"Pushed 127.0.0.1:5000/octo/app:latest as {DIGEST}", "push")]


def states(phases):
    return [(p.name, p.state) for p in phases]


def test_a_queued_build_has_every_phase_pending():
    phases = phases_for(record(BuildStatus.QUEUED, started=False), [])
    assert states(phases) == [("clone", "pending"), ("build", "pending"), ("push", "pending")]


def test_a_building_build_shows_the_step_it_is_on():
    phases = phases_for(record(BuildStatus.BUILDING), log(*CLONE, *BUILD))
    assert states(phases) == [("clone", "done"), ("build", "active"), ("push", "pending")]
    assert phases[1] == Phase("build", "Build", "active", "step 2 of 4", 2, 4)


def test_pushing_counts_the_tags_pushed_so_far():
    phases = phases_for(record(BuildStatus.PUSHING), log(*CLONE, *BUILD, *PUSH))
    assert phases[2].detail == "1 of 2 tags pushed" and phases[2].state == "active"
    docker_style = log(*CLONE, *BUILD, ("==> Pushing", "push"), (f"edge: digest: {DIGEST} size: 9",
                                                                 "push"))  # fmt: skip
    assert phases_for(record(BuildStatus.PUSHING), docker_style)[2].value == 1


def test_a_successful_build_has_every_phase_done_and_full_progress():
    phases = phases_for(record(BuildStatus.SUCCESS), log(*CLONE, *BUILD, *PUSH))
    assert [p.state for p in phases] == ["done"] * 3
    assert phases[1].detail == "step 4 of 4"
    assert phases[2].detail == "2 of 2 tags pushed"


def test_a_failed_build_marks_the_phase_it_failed_in_and_skips_the_rest():
    phases = phases_for(record(BuildStatus.FAILED), log(*CLONE, *BUILD, "Build failed: exit 3"))
    assert states(phases) == [("clone", "done"), ("build", "failed"), ("push", "skipped")]
    assert phases[1].detail == "step 2 of 4"


def test_an_error_before_any_log_fails_the_clone_phase_only_if_it_started():
    assert phases_for(record(BuildStatus.ERROR), [])[0].state == "failed"
    never = phases_for(record(BuildStatus.CANCELED, started=False), [])
    assert [p.state for p in never] == ["skipped"] * 3


def test_durations_are_short_and_steady():
    assert seconds_text(0) == "0s"
    assert seconds_text(65) == "1m 05s"
    assert seconds_text(3 * 3600 + 120) == "3h 02m"


def test_the_repository_filter_is_provider_slash_name():
    assert split_repository("github/octo/app") == ("github", "octo/app")
    assert split_repository("octo/app") == (None, "octo/app")
    assert split_repository("") == (None, None)
