"""The ``build`` phase: warm the layer cache, build the exported context with the legacy builder
(the Docker API's build stream, steps reported as progress), label and tag the image."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.build import BuildStatus
from core.gitcmd import strip_credentials
from worker.cache import warm_layers
from worker.containment import BuildLimits, limits_for
from worker.docker_build import (
    LABEL_BUILD_ID,
    LABEL_CREATED,
    LABEL_REVISION,
    LABEL_SOURCE,
    BuildRequest,
    build_image,
)
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.clone import CloneOutput
from worker.phases.docker import RegistryTarget, docker_api, registry_target


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


@dataclass(frozen=True)
class BuildOutput(PhaseOutput):
    image_id: str

    def record_fields(self) -> dict[str, Any]:
        return {"image_id": self.image_id}


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
        )

    def run(self, env: PhaseEnv, given: BuildInput) -> BuildOutput:
        env.log.phase(
            self.name,
            f"Building {given.image}:{given.tags[0]} from {env.record.dockerfile}"
            f" in context {env.record.context}",
        )
        api = docker_api(env)
        layer_cache = warm_layers(
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
        )
        result = build_image(
            api,
            request,
            env.deadline,
            on_line=env.output(self.name),
            checkpoint=env.checkpoint(self.activity),
            progress=env.progress,
        )
        env.log.append(f"Built image {result.image_id}", phase=self.name)
        return BuildOutput(result.image_id)
