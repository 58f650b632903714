"""The ``build`` phase: warm the layer cache, build the exported context with the rule's builder
(BuildKit by default, or the legacy one: :mod:`worker.builders`), once per platform when the rule
names ``platforms``; steps reported as progress, the image labelled and tagged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.build import BuildStatus
from core.gitcmd import strip_credentials
from worker.basepull import build_pulls
from worker.build_secrets import secret_values, session_credentials
from worker.builders import BuildChoice, build_platforms, choice_for, layer_cache_for
from worker.containment import BuildLimits, limits_for
from worker.docker_build import (
    LABEL_BUILD_ID,
    LABEL_CREATED,
    LABEL_REVISION,
    LABEL_SOURCE,
    BuildRequest,
)
from worker.errors import DockerBuildError
from worker.forksafety import WITHHELD_LINE, untrusted, withheld
from worker.multiplatform import PlatformImage
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.clone import CloneOutput
from worker.phases.docker import (
    RegistryTarget,
    docker_api,
    registry_credentials,
    registry_target,
)
from worker.pull_access import explain_refused_pull, is_refused_pull


@dataclass(frozen=True)
class BuildInput:
    context_dir: Path
    dockerfile: str
    image: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    build_args: Mapping[str, str]
    build_caching: bool
    own_images: tuple[str, ...]  # the repository's images: their tags may seed the cache
    limits: BuildLimits
    registry: RegistryTarget
    choice: BuildChoice
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # id -> value
    registry_auth: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    pull: bool = False  # the repository's ``pull: true`` (worker/basepull.py)


@dataclass(frozen=True)
class BuildOutput(PhaseOutput):
    choice: BuildChoice
    images: tuple[PlatformImage, ...]  # one per platform (one, platform "", without platforms)

    @property
    def image_id(self) -> str | None:
        """The image of a one-platform build (a multi-platform build has an index instead)."""
        return None if self.choice.multi_platform else self.images[0].image_id

    def record_fields(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "platforms": self.choice.platforms}


class BuildPhase(Phase[BuildInput, BuildOutput]):
    name = "build"
    status = BuildStatus.BUILDING
    activity = "building the image"

    def prepare(self, env: PhaseEnv, results: Results) -> BuildInput:
        record, repository = env.record, env.repository
        checkout = results.get(CloneOutput).build_context
        labels = {
            LABEL_SOURCE: strip_credentials(repository.clone_url),
            LABEL_REVISION: record.commit,
            LABEL_CREATED: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            LABEL_BUILD_ID: record.id,
        }
        return BuildInput(
            context_dir=checkout.directory,
            dockerfile=checkout.dockerfile,
            image=record.image,
            tags=record.docker_tags,
            labels=labels,
            build_args=dict(record.build_args),
            build_caching=record.build_caching,
            own_images=tuple(repository.images),
            limits=limits_for(repository, env.context.settings.max_context_bytes),
            registry=registry_target(env),
            choice=choice_for(repository, record),
            secrets=withheld(
                record, secret_values(repository, record.rule_indexes, env.context.settings)
            ),
            registry_auth=withheld(
                record,
                session_credentials(
                    registry_credentials(env.context.settings, env.context.config, repository)
                ),
            ),
            pull=repository.pull,
        )

    def run(self, env: PhaseEnv, given: BuildInput) -> BuildOutput:
        choice = given.choice
        env.log.phase(
            self.name,
            f"Building {given.image}:{given.tags[0]} from {env.record.dockerfile}"
            f" in context {env.record.context} with {choice.builder}"
            + (f" for {', '.join(choice.platforms)}" if choice.platforms else ""),
        )
        if untrusted(env.record):
            env.log.append(WITHHELD_LINE, phase=self.name)
        api = docker_api(env)
        layer_cache = layer_cache_for(
            choice,
            api,
            image=given.image,
            tags=given.tags,
            build_caching=given.build_caching,
            own_images=given.own_images,
            credentials=given.registry.credentials,
            deadline=env.deadline,
            on_line=env.output(self.name),
            checkpoint=env.checkpoint("pulling the layer cache"),
            registry_timeout=env.context.registry_timeout,
            insecure_registries=env.context.settings.insecure_registries,
        )
        request = BuildRequest(
            context_dir=given.context_dir,
            dockerfile=given.dockerfile,
            image=given.image,
            tags=given.tags,
            labels=given.labels,
            build_args=given.build_args,
            limits=given.limits,
            cache_from=layer_cache.cache_from,
            nocache=layer_cache.nocache,
            secrets=given.secrets,
            registry_auth=given.registry_auth,
            pull=build_pulls(choice.builder, choice.platforms, given.pull),
        )
        try:
            images = build_platforms(
                api,
                choice,
                request,
                env.deadline,
                on_line=env.output(self.name),
                checkpoint=env.checkpoint(self.activity),
                progress=env.progress,
            )
        except DockerBuildError as exc:  # no local may keep exc: its frames hold the stream
            if not is_refused_pull(exc):
                raise
            raise explain_refused_pull(exc, env.repository.credential_hosts) from None
        output = BuildOutput(choice, images)
        if output.image_id is not None:
            env.log.append(f"Built image {output.image_id}", phase=self.name)
        return output
