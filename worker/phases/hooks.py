"""The hook phases of a repository with ``hooks: true`` (docs/hooks.md).

:func:`with_hooks` turns the default plan into Docker Hub's order: ``post_checkout`` after the
clone; ``pre_build``, ``build``, ``post_build``; ``pre_test``, ``test``, ``post_test``;
``pre_push``, ``push``, ``post_push``; then our verification and the rest. Each hook is a phase of
its own (recorded, its lines in the log under its name), skipped when the repository has no such
hook. ``build``, ``test`` and ``push`` hooks replace the phase of that name: a ``build`` hook
must leave ``$IMAGE_NAME`` in the daemon (we then tag the other tags and push as usual); a
``push`` hook must leave every tag in the registry with the built image's digest (our verify
phase still decides). Where the plan has no ``test`` phase, the test hooks run after the build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import docker.errors
import requests

from core.build import BuildStatus
from core.registry_address import image_path
from worker.buildenv import BuildEnvironment, build_environment
from worker.builders import BuildChoice
from worker.errors import DaemonError, UserBuildError
from worker.forksafety import untrusted
from worker.hooks import HookScript, find_hook, run_hook
from worker.multiplatform import PlatformImage
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.build import BuildOutput
from worker.phases.clone import CloneOutput
from worker.phases.docker import docker_api, registry_target
from worker.phases.push import PushOutput
from worker.push import PushResult
from worker.registry import RegistryClient
from worker.sandbox import Fence, docker_socket

AnyPhase = Phase[Any, PhaseOutput]
REPLACEABLE = ("build", "test", "push")
HOOK_BUILDER = "hook"


@dataclass(frozen=True)
class HookInput:
    script: HookScript
    fence: Fence


@dataclass(frozen=True)
class HookOutput(PhaseOutput):
    hook: str


def environment(env: PhaseEnv, results: Results) -> BuildEnvironment:
    """The attempt's build environment (made once; an unset secret fails the build)."""
    found = env.shared.get("build_environment")
    if found is None:
        clone = results.find(CloneOutput)
        found = build_environment(
            env.record,
            env.repository,
            clone.build_context if clone else None,
            env.context.settings,
        )
        env.shared["build_environment"] = found
    return cast(BuildEnvironment, found)


def script_for(env: PhaseEnv, results: Results, name: str) -> HookScript | None:
    """The hook ``name`` of the checkout; never one for a fork's pull request (worker.forksafety:
    its hooks are code nobody reviewed, with the daemon's socket)."""
    clone = results.find(CloneOutput)
    if clone is None or untrusted(env.record):
        return None
    return find_hook(clone.build_context, name)


def hook_input(env: PhaseEnv, results: Results, script: HookScript) -> HookInput:
    socket = docker_socket(env.context.settings.environ.get("DOCKER_HOST"))
    variables = environment(env, results).variables
    return HookInput(script, Fence(script.checkout, script.workdir, socket, variables))


def execute(env: PhaseEnv, phase: str, activity: str, given: HookInput) -> None:
    env.log.phase(phase, f"Running hooks/{given.script.name} in {given.fence.cwd}")
    run_hook(
        given.script,
        given.fence,
        env.output(phase),
        lambda: env.deadline.check(activity),
    )


class HookPhase(Phase[HookInput, HookOutput]):
    """One of the seven hooks around the phases (``pre_build``, ``post_push``, ...)."""

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        return script_for(env, results, self.name) is not None

    def prepare(self, env: PhaseEnv, results: Results) -> HookInput:
        script = script_for(env, results, self.name)
        assert script is not None
        return hook_input(env, results, script)

    def run(self, env: PhaseEnv, given: HookInput) -> HookOutput:
        execute(env, self.name, self.activity, given)
        return HookOutput(self.name)


class ReplacedPhase(Phase[Any, PhaseOutput]):
    """A default phase (``build``, ``test``, ``push``) that a hook of its name replaces."""

    def __init__(self, default: AnyPhase | None) -> None:
        self.default = default

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        if script_for(env, results, self.name) is not None:
            return True
        return self.default is not None and self.default.wanted(env, results)

    def prepare(self, env: PhaseEnv, results: Results) -> Any:
        script = script_for(env, results, self.name)
        if script is not None:
            return hook_input(env, results, script)
        assert self.default is not None
        return self.default.prepare(env, results)

    def run(self, env: PhaseEnv, given: Any) -> PhaseOutput:
        if not isinstance(given, HookInput):
            assert self.default is not None
            return self.default.run(env, given)
        execute(env, self.name, self.activity, given)
        return self.after_hook(env, given)

    def after_hook(self, env: PhaseEnv, given: HookInput) -> PhaseOutput:
        return HookOutput(self.name)


def image_id_of(api: Any, reference: str) -> str | None:
    try:
        return str(api.inspect_image(reference)["Id"])
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DaemonError(f"The Docker daemon could not inspect {reference}: {exc}") from exc


class BuildHookPhase(ReplacedPhase):
    """``hooks/build``: afterwards ``$IMAGE_NAME`` must exist; every tag then names it."""

    def after_hook(self, env: PhaseEnv, given: HookInput) -> PhaseOutput:
        api = docker_api(env)
        reference = given.fence.environment["IMAGE_NAME"]
        image_id = image_id_of(api, reference)
        if image_id is None:
            raise UserBuildError(
                f"The build hook finished without building {reference}:"
                " hooks/build must build and tag $IMAGE_NAME"
            )
        record = env.record
        for tag in record.docker_tags:
            api.tag(image_id, repository=record.image, tag=tag)
        env.log.append(f"Built image {image_id} (by hooks/build)", phase=self.name)
        return BuildOutput(BuildChoice(HOOK_BUILDER), (PlatformImage("", image_id),))


class PushHookPhase(ReplacedPhase):
    """``hooks/push``: afterwards the registry must answer every tag with one digest, the one
    the daemon recorded for the built image when it was pushed."""

    def after_hook(self, env: PhaseEnv, given: HookInput) -> PhaseOutput:
        record = env.record
        path = image_path(record.image)
        target = registry_target(env)
        with RegistryClient(
            target.host,
            target.credentials,
            timeout=env.context.registry_timeout,
            insecure_registries=env.context.settings.insecure_registries,
        ) as registry:
            digests = {tag: registry.manifest_digest(path, tag) for tag in record.docker_tags}
        missing = [tag for tag, digest in digests.items() if digest is None]
        if missing:
            raise UserBuildError(
                "The push hook finished, but the registry does not have "
                + ", ".join(f"{record.image}:{tag}" for tag in missing)
                + ": hooks/push must push every tag"
            )
        found = set(digests.values())
        built = daemon_digests(docker_api(env), record.image, record.docker_tags[0])
        if len(found) > 1 or not found <= built:
            raise UserBuildError(
                f"The push hook finished, but the registry's tags of {record.image} are not"
                " all the image this build made and pushed"
            )
        digest = next(iter(found))
        env.log.append(f"The registry has every tag at {digest}", phase=self.name)
        return PushOutput(PushResult(digest, record.docker_tags))


def daemon_digests(api: Any, image: str, tag: str) -> set[str]:
    """The digests the daemon recorded for ``image:tag`` in ``image``'s repository."""
    try:
        repo_digests = api.inspect_image(f"{image}:{tag}").get("RepoDigests") or []
    except (docker.errors.DockerException, requests.RequestException):
        return set()
    return {d.split("@", 1)[1] for d in repo_digests if d.split("@", 1)[0] == image}


def hook_phase(name: str, status: BuildStatus | None) -> AnyPhase:
    kind = type(
        f"Hook_{name}",
        (HookPhase,),
        {"name": name, "status": status, "activity": f"running the {name} hook"},
    )
    return cast(AnyPhase, kind())


def replaced_phase(name: str, default: AnyPhase | None) -> AnyPhase:
    base: type[ReplacedPhase] = {"build": BuildHookPhase, "push": PushHookPhase}.get(
        name, ReplacedPhase
    )
    status = default.status if default is not None else BuildStatus.BUILDING
    activity = default.activity if default is not None else f"running the {name} hook"
    kind = type(f"Replaced_{name}", (base,), {"name": name, "status": status, "activity": activity})
    return cast(AnyPhase, kind(default))


STAGE_STATUS: dict[str, BuildStatus] = {
    "build": BuildStatus.BUILDING,
    "test": BuildStatus.BUILDING,
    "push": BuildStatus.PUSHING,
}


def stage(name: str, default: AnyPhase | None) -> list[AnyPhase]:
    status = STAGE_STATUS[name]
    return [
        hook_phase(f"pre_{name}", status),
        replaced_phase(name, default),
        hook_phase(f"post_{name}", status),
    ]


def with_hooks(phases: Sequence[AnyPhase]) -> tuple[AnyPhase, ...]:
    """``phases`` with Docker Hub's hooks around and in place of clone, build, test and push."""
    names = {phase.name for phase in phases}
    planned: list[AnyPhase] = []
    for phase in phases:
        if phase.name in REPLACEABLE:
            planned += stage(phase.name, phase)
        else:
            planned.append(phase)
        if phase.name == "clone":
            planned.append(hook_phase("post_checkout", None))
        if phase.name == "build" and "test" not in names:
            planned += stage("test", None)
    return tuple(planned)
