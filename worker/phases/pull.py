"""The ``pull`` phase (``pull: true``): every ``FROM`` image fresh before the build, each digest
logged (:mod:`worker.basepull`). Skipped unless the repository asks for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.build import BuildStatus
from core.registry_api import split_image, split_reference
from worker.attest import base_references, read_dockerfile
from worker.basepull import BaseDigest, pull_bases, resolve_bases
from worker.builders import LEGACY, BuildChoice, choice_for
from worker.forksafety import untrusted
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.clone import CloneOutput
from worker.phases.docker import docker_api
from worker.registry import Credentials, resolve_credentials


@dataclass(frozen=True)
class PullInput:
    dockerfile: Path
    build_args: Mapping[str, str]
    choice: BuildChoice
    credentials: Mapping[str, Credentials | None] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PullOutput(PhaseOutput):
    bases: tuple[BaseDigest, ...]

    def record_fields(self) -> dict[str, Any]:
        return {}


class PullPhase(Phase[PullInput, PullOutput]):
    name = "pull"
    status = BuildStatus.BUILDING
    activity = "pulling the base images"

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        return env.repository.pull

    def prepare(self, env: PhaseEnv, results: Results) -> PullInput:
        checkout = results.get(CloneOutput).build_context
        context = env.context
        text = read_dockerfile(checkout.directory / checkout.dockerfile)
        build_args = dict(env.record.build_args)
        hosts = {reference_host(ref) for ref in base_references(text, build_args)}
        return PullInput(
            dockerfile=checkout.directory / checkout.dockerfile,
            build_args=build_args,
            choice=choice_for(env.repository, env.record),
            credentials={
                host: resolve_credentials(context.config, context.settings, host)
                for host in hosts & credential_hosts(env)
            },
        )

    def run(self, env: PhaseEnv, given: PullInput) -> PullOutput:
        references = base_references(read_dockerfile(given.dockerfile), given.build_args)
        log = env.output(self.name)
        env.log.phase(
            self.name,
            f"Pulling {len(references)} base image(s) fresh (pull: true)"
            if references
            else "No base image to pull (FROM scratch or earlier stages only)",
        )
        credentials_for = given.credentials.get
        if given.choice.builder == LEGACY:
            bases = pull_bases(
                docker_api(env),
                references,
                credentials_for,
                platforms=given.choice.platforms,
                deadline=env.deadline,
                on_line=log,
                checkpoint=env.checkpoint(self.activity),
            )
        else:
            bases = resolve_bases(
                references, credentials_for, log, env.context.settings.insecure_registries
            )
        return PullOutput(bases)


def credential_hosts(env: PhaseEnv) -> set[str]:
    """The registries whose credentials this build's pulls may use: its repository's own and its
    ``pull_registries`` (as for the build itself: worker/phases/docker.py), none for a fork's
    pull request (worker/forksafety.py)."""
    if untrusted(env.record):
        return set()
    return set(env.repository.credential_hosts)


def reference_host(reference: str) -> str:
    """The registry host of a ``FROM`` image."""
    return split_image(split_reference(reference)[0])[0]
