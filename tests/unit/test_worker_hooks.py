"""Hooks in the plan (Docker Hub's order, replacing build/test/push by name), finding a hook
beside the Dockerfile, refusing one without ``#!`` or leading outside the checkout, and
``DOCKER_BUILDKIT=0`` choosing the legacy builder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from buildrules.hookfields import EnvVar
from buildrules.model import BuildRule, Repository
from core.build import BuildRecord
from core.events import RefType
from worker.builders import choice_for
from worker.checkout import BuildContext
from worker.errors import UserBuildError
from worker.hooks import HOOK_NAMES, find_hook, make_executable
from worker.mirror import FetchResult
from worker.phases import plan
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.hooks import ReplacedPhase, with_hooks


def repository(**options: Any) -> Repository:
    rule = BuildRule(source_type=RefType.BRANCH, source="master", docker_tags=("latest",))
    return Repository("git", "octo/app", "file:///x", "127.0.0.1:5000/octo/app", (rule,), **options)


def test_hooks_true_plans_docker_hubs_order_with_the_test_hooks_after_the_build() -> None:
    names = [phase.name for phase in plan(repository(hooks=True))]
    assert names == ["clone", *HOOK_NAMES, "verify", "attest"]
    assert [phase.name for phase in plan(repository())] == [
        "clone", "build", "push", "verify", "attest",
    ]  # fmt: skip


class FakeTest(Phase[None, PhaseOutput]):
    name = "test"
    activity = "testing"

    def prepare(self, env: PhaseEnv, results: Results) -> None:
        return None

    def run(self, env: PhaseEnv, given: None) -> PhaseOutput:
        return PhaseOutput()


def test_a_test_hook_replaces_a_test_phase_where_the_plan_has_one() -> None:
    base = plan(repository())
    phases = with_hooks([*base[:2], FakeTest(), *base[2:]])
    names = [phase.name for phase in phases]
    assert names == ["clone", *HOOK_NAMES, "verify", "attest"]
    test = phases[names.index("test")]
    assert isinstance(test, ReplacedPhase) and isinstance(test.default, FakeTest)


def exported(tmp_path: Path, files: dict[str, str]) -> BuildContext:
    root = tmp_path / "src"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return BuildContext(root, root / "app", "docker/Dockerfile", "a" * 40, FetchResult("present"))


def test_a_hook_is_found_beside_the_dockerfile_and_made_executable(tmp_path: Path) -> None:
    context = exported(
        tmp_path,
        {"app/docker/Dockerfile": "FROM scratch\n", "app/docker/hooks/build": "#!/bin/sh\n"},
    )
    hook = find_hook(context, "build")
    assert hook is not None and str(hook.workdir) == "app/docker"
    assert find_hook(context, "pre_build") is None
    make_executable(hook)
    assert os.access(hook.path, os.X_OK)


def test_a_hook_without_a_shebang_line_is_refused(tmp_path: Path) -> None:
    context = exported(
        tmp_path,
        {"app/docker/Dockerfile": "FROM scratch\n", "app/docker/hooks/build": "docker build .\n"},
    )
    hook = find_hook(context, "build")
    assert hook is not None
    with pytest.raises(UserBuildError) as caught:
        make_executable(hook)
    assert "missing a #! line" in caught.value.message


def test_a_hook_leading_outside_the_checkout_is_refused_and_not_touched(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("#!/bin/sh\n")
    outside.chmod(0o600)
    context = exported(tmp_path, {"app/docker/Dockerfile": "FROM scratch\n"})
    (context.root / "app/docker/hooks").mkdir()
    (context.root / "app/docker/hooks/build").symlink_to(outside)
    hook = find_hook(context, "build")
    assert hook is not None
    with pytest.raises(UserBuildError) as caught:
        make_executable(hook)
    assert "not a file inside the repository" in caught.value.message
    assert outside.stat().st_mode & 0o777 == 0o600


def test_docker_buildkit_0_in_env_chooses_the_legacy_builder_unless_the_rule_names_one() -> None:
    record = BuildRecord(
        "id", "git", "octo/app", RefType.BRANCH, "master", "a" * 40,
        "127.0.0.1:5000/octo/app", ("latest",), "Dockerfile", "/", rule_indexes=(0,),
    )  # fmt: skip
    legacy = repository(env=(EnvVar("DOCKER_BUILDKIT", "0"),))
    assert choice_for(legacy, record).builder == "legacy"
    assert choice_for(repository(), record).builder == "buildkit"
    rule = BuildRule(
        source_type=RefType.BRANCH, source="master", docker_tags=("latest",), builder="buildkit"
    )
    named = repository(env=(EnvVar("DOCKER_BUILDKIT", "0"),))
    named = Repository(**{**named.__dict__, "build_rules": (rule,)})
    assert choice_for(named, record).builder == "buildkit"
