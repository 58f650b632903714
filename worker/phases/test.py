"""The ``test`` phase (Docker Hub's Autotest): after the build, before anything is pushed, run
each ``*.test.yml`` / ``*-test.yml`` beside the Dockerfile with Compose; the build passes only
when every file's ``sut`` service exits 0 (a failure ends the build ``failed``, nothing pushed).

It runs for pull request builds, and for pushes of repositories that set ``autotest:``. A
multi-platform build is not tested (its images are not loaded into the daemon). Everything a test
started is removed afterwards, on success, failure, cancel and timeout (:mod:`worker.composerun`).
A ``test`` hook (hooks, when a repository enables them) is meant to replace this phase: the phase
asks nothing of the others beyond the build's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildrules.model import Repository
from core.build import BuildStatus
from core.events import RefType
from worker.composefile import TEST_PATTERNS, find_test_files, safe_compose
from worker.composerun import ComposeTest, project_name, run_test
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.build import BuildOutput
from worker.phases.clone import CloneOutput
from worker.phases.docker import docker_api


@dataclass(frozen=True)
class TestInput:
    __test__ = False  # not a pytest class

    folder: Path  # the Dockerfile's folder in the exported commit
    image_id: str
    project: str
    docker_host: str | None
    internal: bool  # network: none: the test's networks reach nothing outside


@dataclass(frozen=True)
class TestOutput(PhaseOutput):
    __test__ = False

    files: tuple[str, ...]  # the test files that passed


def tests_possible(repository: Repository | None) -> bool:
    """Whether builds of ``repository`` may run tests: it sets ``autotest`` or has pull request
    rules. Other repositories' builds have no ``test`` phase at all (not even a skipped one)."""
    if repository is None:
        return False
    return repository.autotest is not None or any(
        rule.source_type is RefType.PULL_REQUEST for rule in repository.build_rules
    )


def _folder(results: Results) -> Path:
    checkout = results.get(CloneOutput).build_context
    return (checkout.directory / checkout.dockerfile).parent


class TestPhase(Phase[TestInput, TestOutput]):
    __test__ = False

    name = "test"
    status = BuildStatus.BUILDING
    activity = "running the tests"

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        record = env.record
        if record.pull_request is None and env.repository.autotest is None:
            return False
        built = results.find(BuildOutput)
        if built is None or built.image_id is None:  # a multi-platform build: not tested
            return False
        folder = _folder(results)
        return folder.is_dir() and any(any(folder.glob(p)) for p in TEST_PATTERNS)

    def prepare(self, env: PhaseEnv, results: Results) -> TestInput:
        image_id = results.get(BuildOutput).image_id
        assert image_id is not None
        return TestInput(
            folder=_folder(results),
            image_id=image_id,
            project=project_name(env.record.id),
            docker_host=env.context.settings.environ.get("DOCKER_HOST"),
            internal=env.repository.network == "none",
        )

    def run(self, env: PhaseEnv, given: TestInput) -> TestOutput:
        files = find_test_files(given.folder)
        passed: list[str] = []
        log = env.output(self.name)
        for path in files:
            env.log.phase(self.name, f"Running test {path.name} (service sut)")
            test = ComposeTest(
                path.name,
                safe_compose(path, given.image_id, internal=given.internal),
                given.project,
                given.docker_host,
            )
            run_test(test, docker_api(env), env.deadline, log, env.checkpoint(self.activity))
            log(f"Test {path.name} passed")
            passed.append(path.name)
        return TestOutput(tuple(passed))
