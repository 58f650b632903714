"""What the build page derives from a record and its log: phases, progress, formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.phaseview import Phase, phases_for
from app.ui import seconds_text, split_repository
from core.build import BuildRecord, BuildStatus
from core.events import RefType
from core.progress import PhaseRecord, PhaseStatus, Progress, StepProgress, TagPushed

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64


def record(status, started=True, tags=("latest", "edge")):
    return BuildRecord(
        id="b1", provider="github", repository="octo/app", source_type=RefType.BRANCH,
        source_name="master", commit="c" * 40, image="127.0.0.1:5000/octo/app", docker_tags=tags,
        dockerfile="Dockerfile", context="/", status=status,
        started_at=T0 if started else None,
    )  # fmt: skip


def log(build, *entries):
    """``build`` with the phases and progress a worker records: ``(name, status)`` phases,
    ``StepProgress``/``TagPushed`` progress, in the order they happened."""
    phases, progress = [], Progress()
    for n, entry in enumerate(entries):
        if isinstance(entry, StepProgress):
            progress = progress.with_step(entry)
        elif isinstance(entry, TagPushed):
            progress = progress.with_pushed(entry)
        else:
            name, status = entry
            at = T0 + timedelta(seconds=n)
            ended = None if status is PhaseStatus.RUNNING else at
            phases.append(PhaseRecord(name, status, None if status is SKIP else at, ended))
    return build.with_changes(phases=tuple(phases), progress=progress)


DONE, RUN, FAIL, SKIP = (PhaseStatus.SUCCESS, PhaseStatus.RUNNING, PhaseStatus.FAILED,
                         PhaseStatus.SKIPPED)  # fmt: skip
CLONE = [("clone", DONE)]
BUILD = [("build", RUN), StepProgress(1, 4), StepProgress(2, 4)]
PUSH = [("push", RUN), TagPushed("latest", DIGEST)]


def ended(entries):
    """The same phases, the running ones ended with success."""
    return [(e[0], DONE) if isinstance(e, tuple) and e[1] is RUN else e for e in entries]


def states(phases):
    return [(p.name, p.state) for p in phases]


def test_a_queued_build_has_every_phase_pending():
    phases = phases_for(record(BuildStatus.QUEUED, started=False))
    assert states(phases) == [("clone", "pending"), ("build", "pending"), ("push", "pending")]


def test_a_building_build_shows_the_step_it_is_on():
    phases = phases_for(log(record(BuildStatus.BUILDING), *CLONE, *BUILD))
    assert states(phases) == [("clone", "done"), ("build", "active"), ("push", "pending")]
    assert phases[1] == Phase("build", "Build", "active", "step 2 of 4", 2, 4)


def test_pushing_counts_the_tags_pushed_so_far():
    phases = phases_for(log(record(BuildStatus.PUSHING), *CLONE, *ended(BUILD), *PUSH))
    assert phases[2].detail == "1 of 2 tags pushed" and phases[2].state == "active"
    other_tag = log(record(BuildStatus.PUSHING), *CLONE, *ended(BUILD), ("push", RUN),
                    TagPushed("edge", DIGEST))  # fmt: skip
    assert phases_for(other_tag)[2].value == 1


def test_a_successful_build_has_every_phase_done_and_full_progress():
    phases = phases_for(
        log(record(BuildStatus.SUCCESS), *CLONE, *ended(BUILD), *ended(PUSH), ("verify", DONE))
    )
    assert [p.state for p in phases] == ["done"] * 3
    assert phases[1].detail == "step 4 of 4"
    assert phases[2].detail == "2 of 2 tags pushed"


def test_a_failed_build_marks_the_phase_it_failed_in_and_skips_the_rest():
    phases = phases_for(
        log(record(BuildStatus.FAILED), *CLONE, ("build", FAIL), *BUILD[1:], ("push", SKIP))
    )
    assert states(phases) == [("clone", "done"), ("build", "failed"), ("push", "skipped")]
    assert phases[1].detail == "step 2 of 4"


def test_an_error_before_any_log_fails_the_clone_phase_only_if_it_started():
    assert phases_for(record(BuildStatus.ERROR))[0].state == "failed"
    never = phases_for(record(BuildStatus.CANCELED, started=False))
    assert [p.state for p in never] == ["skipped"] * 3


def test_durations_are_short_and_steady():
    assert seconds_text(0) == "0s"
    assert seconds_text(65) == "1m 05s"
    assert seconds_text(3 * 3600 + 120) == "3h 02m"


def test_the_repository_filter_is_provider_slash_name():
    assert split_repository("github/octo/app") == ("github", "octo/app")
    assert split_repository("octo/app") == (None, "octo/app")
    assert split_repository("") == (None, None)
