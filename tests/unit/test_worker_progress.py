"""Progress as data: the builder's stream parser and the push report it, the record gets it
once per change, and the phases of an attempt are recorded with their outcomes."""

from __future__ import annotations

import dataclasses

from buildrules.model import Repository
from core.progress import PhaseStatus, Progress, StepProgress, TagPushed
from worker.builders import BuildChoice
from worker.docker_build import consume_build_stream
from worker.multiplatform import PlatformImage
from worker.phases import plan
from worker.phases.base import PhaseRecorder, Results
from worker.phases.build import BuildOutput
from worker.phases.clone import CloneOutput
from worker.progress import RecordProgress


class StoreStandIn:
    """Stands in for BuildStore.update: keeps every write (the real one is tested against Redis
    in tests/integration/test_build_phases.py)."""

    def __init__(self) -> None:
        self.writes: list[dict] = []

    def update(self, build_id, *, expect_attempt=None, **fields):
        self.writes.append({"build_id": build_id, "attempt": expect_attempt, **fields})


class Steps:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def step(self, number, total, platform=None):
        self.seen.append((number, total))

    def pushed(self, tag, digest, platform=None):
        raise AssertionError("a build stream pushes nothing")


def test_the_build_stream_reports_each_step_record_as_progress_not_other_lines():
    chunks = [
        {"stream": "Step 1/3 : FROM base\n"},
        {"stream": " ---> 1234\n"},
        {"stream": "Step 2/3 : RUN echo 'Step 9/9 : not a step'\n"},
        {"stream": "Step 9/9 : not a step\n"},  # the RUN's own output, still a stream line
        {"stream": 'Step 3/3 : CMD ["sh"]\n'},
        {"aux": {"ID": "sha256:" + "a" * 64}},
    ]
    steps = Steps()
    consume_build_stream(chunks, lambda line: None, progress=steps)
    assert steps.seen[:2] == [(1, 3), (2, 3)] and steps.seen[-1] == (3, 3)


def test_progress_is_written_only_when_it_changed_and_only_for_its_attempt():
    store = StoreStandIn()
    progress = RecordProgress(store, "b1", attempt=2)  # type: ignore[arg-type]
    progress.step(1, 3)
    progress.step(1, 3)  # the same again: no write
    progress.step(2, 3)
    progress.pushed("latest", "sha256:" + "d" * 64)
    progress.pushed("latest", "sha256:" + "d" * 64)
    assert len(store.writes) == 3
    assert {w["attempt"] for w in store.writes} == {2}
    assert store.writes[-1]["progress"] == Progress(
        (StepProgress(2, 3),), (TagPushed("latest", "sha256:" + "d" * 64),)
    )


def test_the_recorder_keeps_each_phase_and_skips_the_rest_when_the_attempt_ends():
    store = StoreStandIn()
    recorder = PhaseRecorder(store, "b1", attempt=1)  # type: ignore[arg-type]
    recorder.start("clone")
    recorder.end(PhaseStatus.SUCCESS)
    recorder.start("build")
    recorder.close(PhaseStatus.FAILED, ["push", "verify"])
    phases = store.writes[-1]["phases"]
    assert [(p.name, p.status) for p in phases] == [
        ("clone", PhaseStatus.SUCCESS),
        ("build", PhaseStatus.FAILED),
        ("push", PhaseStatus.SKIPPED),
        ("verify", PhaseStatus.SKIPPED),
    ]
    assert phases[1].started_at <= phases[1].finished_at
    assert phases[2].started_at is None and phases[2].finished_at is None


def test_todays_plan_is_clone_build_push_verify_attest_with_pull_when_asked():
    repository = Repository("git", "a/b", "file:///r", "127.0.0.1:5000/a/b", ())
    names = [phase.name for phase in plan(repository)]
    assert names == ["clone", "build", "push", "verify", "attest"]
    names = [phase.name for phase in plan(dataclasses.replace(repository, pull=True))]
    assert names == ["clone", "pull", "build", "push", "verify", "attest"]


def test_repositories_with_autotest_or_pull_request_rules_get_a_test_phase():
    from buildrules.model import BuildRule, Repository
    from core.events import RefType

    rule = BuildRule(RefType.PULL_REQUEST, "main", ("pr-{pr}",))
    repository = Repository("github", "a/b", "https://example.invalid/a/b.git", "r/a", (rule,))
    names = [phase.name for phase in plan(repository)]
    assert names == ["clone", "build", "test", "push", "verify", "attest"]


def test_a_phase_finds_the_outputs_before_it_by_type():
    results = Results()
    results.add(BuildOutput(BuildChoice("buildkit"), (PlatformImage("", "sha256:" + "e" * 64),)))
    assert str(results.get(BuildOutput).image_id).endswith("e" * 64)
    assert results.find(CloneOutput) is None
    try:
        results.get(CloneOutput)
    except LookupError as error:
        assert "CloneOutput" in str(error)
    else:
        raise AssertionError("a missing output must be an error")
