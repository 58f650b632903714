"""The build phase's choice of builder, and one build per platform.

``builder: buildkit`` (the default) builds with the daemon's BuildKit
(:mod:`worker.buildkit.build`), ``builder: legacy`` with the legacy builder
(:mod:`worker.docker_build`); both answer with a :class:`~worker.docker_build.BuildResult`. A
rule's ``builder``/``platforms`` win over the repository's. With ``platforms`` the image is built
once per platform (``platform=`` on the build), each platform's lines prefixed with it. Every
BuildKit build names a session of its own (:mod:`worker.build_secrets`): its build secrets and
the configured registries' credentials, for ``FROM`` images on them.

BuildKit's layer cache on a cold worker needs no pull: the build names the registry images of its
own tags in ``cache_from`` and BuildKit reads the cache metadata written into them
(``BUILDKIT_INLINE_CACHE``). Memory and CPU limits are not honoured by the daemon's BuildKit: the
log says so when the repository sets them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import docker.errors
import requests

from buildrules.hookfields import legacy_requested
from buildrules.model import Repository
from core.build import BuildRecord
from worker.build_secrets import buildkit_session
from worker.buildkit.build import build_image_buildkit
from worker.buildkit.features import require_legacy_syntax
from worker.buildkit.request import BuildKitOptions
from worker.cache import LayerCache, cache_references, decide, warm_layers
from worker.containment import BuildLimits
from worker.deadline import Checkpoint, Deadline
from worker.docker_build import BuildRequest, BuildResult, build_image
from worker.errors import UserBuildError
from worker.multiplatform import PlatformImage, prefixed
from worker.progress import PlatformProgress, ProgressSink

LineFn = Callable[[str], None]
BUILDKIT, LEGACY = "buildkit", "legacy"


@dataclass(frozen=True)
class BuildChoice:
    builder: str  # buildkit | legacy
    platforms: tuple[str, ...] = ()  # (): one image for the daemon's own platform

    @property
    def multi_platform(self) -> bool:
        return bool(self.platforms)


def choice_for(repository: Repository, record: BuildRecord) -> BuildChoice:
    """The builder and platforms of ``record``'s rule (its first one), or else the repository's;
    ``DOCKER_BUILDKIT=0`` in the repository's ``env:`` means legacy unless the rule names one."""
    rule = None
    if record.rule_indexes and record.rule_indexes[0] < len(repository.build_rules):
        rule = repository.build_rules[record.rule_indexes[0]]
    builder = repository.builder_for(rule)
    if not (rule is not None and rule.builder) and legacy_requested(repository.env):
        builder = LEGACY
    return BuildChoice(builder, repository.platforms_for(rule))


def buildkit_layer_cache(
    image: str, tags: tuple[str, ...], build_caching: bool, own_images: tuple[str, ...]
) -> LayerCache:
    """BuildKit's cache sources: the registry images of the build's tags (nothing pulled)."""
    if not build_caching:
        return decide(False, ())
    references = cache_references(image, tags, own_images)
    if not references:
        return LayerCache(False, (), (), f"Layer cache: this worker's own ({image} is not ours)")
    shown = ", ".join(references)
    summary = f"Layer cache: this worker's own, and the inline cache of {shown} in the registry"
    return LayerCache(False, references, (), summary)


def layer_cache_for(choice: BuildChoice, api: Any, **warm: Any) -> LayerCache:
    """The layer cache of a build: :func:`worker.cache.warm_layers` (which pulls) for the legacy
    builder, :func:`buildkit_layer_cache` (logged the same way) for BuildKit."""
    if choice.builder == LEGACY:
        return warm_layers(api, **warm)
    cache = buildkit_layer_cache(
        warm["image"], tuple(warm["tags"]), warm["build_caching"], tuple(warm["own_images"])
    )
    warm["on_line"](cache.summary)
    return cache


def buildkit_limits(api: Any, limits: BuildLimits, on_line: LineFn) -> BuildLimits:
    """The limits a BuildKit build can take: on a daemon without a bridge network (started
    ``--bridge=none``) the default network does not exist for BuildKit, so ``RUN`` gets none (as
    legacy ``RUN`` steps get on such a daemon); memory and CPU limits are ignored (said once)."""
    if limits.container_limits:
        names = sorted({"memory" if "mem" in k else "cpus" for k in limits.container_limits})
        on_line(
            f"BuildKit does not apply the repository's {' and '.join(names)}"
            f" limit{'s' if len(names) > 1 else ''} (builder: legacy does)"
        )
    if limits.network_mode is None and not has_bridge(api):
        return replace(limits, network_mode="none")
    return limits


def has_bridge(api: Any) -> bool:
    try:
        return bool(api.networks(names=["bridge"]))
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return True  # let the build say what is wrong


def build_one(
    api: Any,
    choice: BuildChoice,
    request: BuildRequest,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None,
    *,
    progress: ProgressSink | None = None,
) -> BuildResult:
    """One image with the chosen builder; its steps reported to ``progress``."""
    if choice.builder == LEGACY:
        if request.secrets:
            raise UserBuildError(
                "Build secrets need BuildKit: this build uses builder: legacy"
                f" (secrets {', '.join(sorted(request.secrets))})"
            )
        require_legacy_syntax(request.context_dir / request.dockerfile, request.dockerfile)
        return build_image(api, request, deadline, on_line, checkpoint, progress)
    on_progress = None if progress is None else (lambda done, total: progress.step(done, total))
    with buildkit_session(api, request, deadline.backstop()) as session:
        return build_image_buildkit(
            api,
            request,
            deadline,
            on_line,
            checkpoint,
            options=BuildKitOptions(session_id=session.id),
            on_progress=on_progress,
        )


def build_platforms(
    api: Any,
    choice: BuildChoice,
    request: BuildRequest,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
    *,
    progress: ProgressSink | None = None,
) -> tuple[PlatformImage, ...]:
    """Every platform's image (one, for the daemon's own, without ``platforms``)."""
    if choice.builder == BUILDKIT:
        request = replace(request, limits=buildkit_limits(api, request.limits, on_line))
    if not choice.multi_platform:
        result = build_one(
            api, choice, request, deadline, on_line, checkpoint,
            progress=progress,
        )  # fmt: skip
        return (PlatformImage("", result.image_id),)
    images: list[PlatformImage] = []
    for platform in choice.platforms:
        on_line(f"[{platform}] Building {request.primary_reference} for {platform}")
        result = build_one(
            api,
            choice,
            replace(request, platform=platform),
            deadline,
            prefixed(on_line, platform),
            checkpoint,
            progress=None if progress is None else PlatformProgress(progress, platform),
        )
        on_line(f"[{platform}] Built image {result.image_id}")
        images.append(PlatformImage(platform, result.image_id))
    return tuple(images)
