"""A build as a sequence of phases, on the real services: each phase recorded with its start,
end and outcome, progress recorded as data, and the loop running whatever phases the plan
holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from core.build import BuildStatus, utcnow
from core.progress import PhaseRecord, PhaseStatus, Progress, StepProgress
from tests.integration.worker_helpers import (
    create_record,
    make_context,
    make_repository,
    unique_image,
)
from worker import jobs
from worker.errors import DockerBuildError
from worker.jobs import execute_build
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, PhaseRecorder, Results
from worker.phases.verify import Verdict
from worker.progress import RecordProgress

pytestmark = pytest.mark.integration


def outcomes(record):
    return [(phase.name, phase.status) for phase in record.phases]


def test_a_successful_build_records_every_phase_and_its_progress(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    image = unique_image(registry_url)
    bust = uuid.uuid4().hex
    repo = make_git_repo({"Dockerfile": f'FROM {base_image}\nRUN echo {bust}\nCMD ["sh"]\n'})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head(), tags=("latest", "edge"))

    assert execute_build(context, record.id) == "success"
    done = context.store.require(record.id)
    assert outcomes(done) == [
        (name, PhaseStatus.SUCCESS) for name in ("clone", "build", "push", "verify", "attest")
    ]
    times = [t for phase in done.phases for t in (phase.started_at, phase.finished_at)]
    assert times == sorted(times) and done.started_at <= times[0] <= times[-1]
    assert done.finished_at >= times[-1]
    step = done.progress.step()
    assert step is not None and step.number == step.total >= 3  # FROM, RUN, CMD
    assert sorted((p.tag, p.digest) for p in done.progress.pushed) == [
        ("edge", done.digest),
        ("latest", done.digest),
    ]
    shown = done.to_json()
    assert [p["status"] for p in shown["phases"]] == ["success"] * 5
    assert shown["progress"]["steps"][0]["total"] == step.total


@pytest.mark.parametrize("builder", ["buildkit", "legacy"])
def test_a_failing_step_fails_the_build_phase_and_skips_the_rest(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, builder
):
    repo = make_git_repo(
        {"Dockerfile": f"FROM {base_image}\nRUN echo {uuid.uuid4().hex} && exit 3\nRUN true\n"}
    )
    repository = make_repository(repo.url, unique_image(registry_url), builder=builder)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "failed"
    done = context.store.require(record.id)
    assert outcomes(done) == [
        ("clone", PhaseStatus.SUCCESS),
        ("build", PhaseStatus.FAILED),
        ("push", PhaseStatus.SKIPPED),
        ("verify", PhaseStatus.SKIPPED),
        ("attest", PhaseStatus.SKIPPED),
    ]
    step = done.progress.step()
    if builder == "legacy":  # the step that failed, from the stream's "Step N/M"
        assert step is not None and (step.number, step.total) == (2, 3)
    else:  # BuildKit reports steps done of steps known: the failed one never finished
        assert step is not None and 0 < step.number < step.total
    assert done.progress.pushed == ()


# --- the loop, over phases of a test's own ---------------------------------------------------


@dataclass(frozen=True)
class Noted(PhaseOutput):
    phase: str
    status_seen: BuildStatus

    def record_fields(self):
        return {"image_id": f"sha256:{self.phase}"} if self.phase == "make" else {}


class Step(Phase[str, Noted]):
    """A phase that notes the build status it ran in (and may fail, or be unwanted)."""

    activity = "doing a step"

    def __init__(self, name, status=None, *, wanted=True, fails=False):
        self.name, self.status = name, status  # type: ignore[misc]  # per test, not per class
        self._wanted, self.fails = wanted, fails

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        return self._wanted

    def prepare(self, env: PhaseEnv, results: Results) -> str:
        return self.name

    def run(self, env: PhaseEnv, given: str) -> Noted:
        if self.fails:
            raise DockerBuildError(f"The {given} phase failed on purpose")
        return Noted(given, env.record.status)


class Decide(Phase[None, Verdict]):
    name = "decide"
    activity = "deciding"

    def prepare(self, env, results):
        return None

    def run(self, env, given):
        return Verdict(BuildStatus.SUCCESS, "Build succeeded: a test's phases", {"digest": None})


@pytest.fixture
def loop_context(tmp_path, redis_url, clean_redis, monkeypatch):
    repository = make_repository("https://git.invalid/octo/app.git", "127.0.0.1:5000/octo/app")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    def use(phases, before=None):
        monkeypatch.setattr(jobs, "plan", lambda repository: phases)
        record = create_record(context.store, repository, "a" * 40)
        if before:  # what an earlier attempt left on the record
            context.store.update(record.id, **before)
        return execute_build(context, record.id), context.store.require(record.id)

    return use


def test_a_phase_added_to_the_plan_runs_in_its_status_and_unwanted_ones_are_skipped(
    loop_context,
):
    status, record = loop_context(
        [
            Step("fetch", BuildStatus.CLONING),
            Step("hooks", wanted=False),
            Step("make", BuildStatus.BUILDING),
            Step("test"),  # no status of its own: the build stays `building`
            Step("ship", BuildStatus.PUSHING),
            Decide(),
        ]
    )
    assert status == "success"
    assert outcomes(record) == [
        ("fetch", PhaseStatus.SUCCESS),
        ("hooks", PhaseStatus.SKIPPED),
        ("make", PhaseStatus.SUCCESS),
        ("test", PhaseStatus.SUCCESS),
        ("ship", PhaseStatus.SUCCESS),
        ("decide", PhaseStatus.SUCCESS),
    ]
    assert record.image_id == "sha256:make"  # the output's fields, written with the next status


def test_a_failing_phase_ends_the_build_with_its_classified_status_and_sentence(loop_context):
    status, record = loop_context(
        [Step("fetch", BuildStatus.CLONING), Step("make", BuildStatus.BUILDING, fails=True),
         Step("ship", BuildStatus.PUSHING), Decide()]
    )  # fmt: skip
    assert status == "failed"
    assert record.error == "The make phase failed on purpose."
    assert outcomes(record) == [
        ("fetch", PhaseStatus.SUCCESS),
        ("make", PhaseStatus.FAILED),
        ("ship", PhaseStatus.SKIPPED),
        ("decide", PhaseStatus.SKIPPED),
    ]


def test_a_new_attempt_starts_with_no_phases_and_no_progress(loop_context):
    seen = []

    class Look(Step):
        def run(self, env, given):
            seen.append(env.context.store.require(env.record.id))
            return super().run(env, given)

    old = (PhaseRecord("clone", PhaseStatus.FAILED, utcnow(), utcnow()),)
    status, _ = loop_context(
        [Look("fetch", BuildStatus.CLONING), Decide()],
        before={"phases": old, "progress": Progress((StepProgress(3, 9),))},
    )
    assert status == "success"
    assert [(p.name, p.status) for p in seen[0].phases] == [("fetch", PhaseStatus.RUNNING)]
    assert seen[0].progress == Progress()


def test_an_old_attempts_phases_and_progress_never_land_on_the_next_attempt(
    tmp_path, redis_url, clean_redis
):
    repository = make_repository("https://git.invalid/octo/app.git", "127.0.0.1:5000/octo/app")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, "a" * 40)
    context.store.update(record.id, attempt=2)  # queued again meanwhile, as attempt 2
    old = RecordProgress(context.store, record.id, attempt=1)
    old.step(4, 5)
    PhaseRecorder(context.store, record.id, attempt=1).start("build")
    current = context.store.require(record.id)
    assert current.phases == () and current.progress == Progress()
    RecordProgress(context.store, record.id, attempt=2).step(1, 5)
    assert context.store.require(record.id).progress.step() == StepProgress(1, 5)
