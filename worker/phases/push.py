"""The ``push`` phase: push every tag, each confirmed by the registry while its tag lock is held
(:mod:`worker.tagorder`: a tag never moves back to an older commit), each reported as progress.
A multi-platform build pushes each platform's image and one index under every tag
(:mod:`worker.multiplatform`)."""

from __future__ import annotations

from dataclasses import dataclass

from core.build import BuildStatus
from core.registry_address import image_path
from worker.multiplatform import PlatformImage, PushTarget, push_index
from worker.phases.ancestry import mirror_ancestry
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.build import BuildOutput
from worker.phases.docker import RegistryTarget, docker_api, registry_target
from worker.push import PushResult, push_all
from worker.registry import RegistryClient
from worker.tagorder import TagGuard


@dataclass(frozen=True)
class PushInput:
    image: str
    image_path: str  # the repository path in the registry (no host)
    images: tuple[PlatformImage, ...]
    multi_platform: bool
    tags: tuple[str, ...]
    registry: RegistryTarget
    read_timeout: float


@dataclass(frozen=True)
class PushOutput(PhaseOutput):
    result: PushResult
    platform_digests: tuple[tuple[str, str], ...] = ()  # (platform, manifest digest)


class PushPhase(Phase[PushInput, PushOutput]):
    name = "push"
    status = BuildStatus.PUSHING
    activity = "pushing the image"

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        return env.record.push  # push: false (and a fork's pull request) pushes nothing

    def prepare(self, env: PhaseEnv, results: Results) -> PushInput:
        record = env.record
        built = results.get(BuildOutput)
        return PushInput(
            image=record.image,
            image_path=image_path(record.image),
            images=built.images,
            multi_platform=built.choice.multi_platform,
            tags=record.docker_tags,
            registry=registry_target(env),
            read_timeout=env.context.push_read_timeout,
        )

    def run(self, env: PhaseEnv, given: PushInput) -> PushOutput:
        context = env.context
        env.log.phase(self.name, f"Pushing {given.image} ({', '.join(given.tags)})")
        guard = TagGuard(
            context.store,
            env.record,
            env.deadline,
            env.watcher,
            env.output(self.name),
            lock_ttl_seconds=context.settings.heartbeat_ttl_seconds,
            ancestry=mirror_ancestry(env),
        )
        target = given.registry

        def fence(activity: str) -> None:  # Redis confirms the build is ours, or no push
            env.fence(activity, guard.held())

        with RegistryClient(
            target.host,
            target.credentials,
            timeout=context.registry_timeout,
            insecure_registries=context.settings.insecure_registries,
        ) as registry:
            if given.multi_platform:
                index = push_index(
                    PushTarget(
                        docker_api(env),
                        given.image,
                        given.image_path,
                        registry,
                        target.credentials,
                        env.deadline,
                        env.output(self.name),
                        env.checkpoint(self.activity),
                        given.read_timeout,
                        fence,
                    ),
                    given.images,
                    given.tags,
                    guard=guard,  # the target's fence runs before each image and each index
                    progress=env.progress,
                )
                return PushOutput(index.result, index.platform_digests)
            pushed = push_all(
                docker_api(env),
                given.image,
                given.image_path,
                registry,
                given.tags,
                target.credentials,
                env.deadline,
                on_line=env.output(self.name),
                checkpoint=env.checkpoint(self.activity),
                read_timeout=given.read_timeout,
                before_tag=lambda reference: fence(f"pushing {reference}"),
                guard=guard,
                progress=env.progress,
            )
        return PushOutput(pushed)
