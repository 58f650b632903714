"""Pushing a multi-platform build: one image per platform, then one index under every tag.

Each platform's image is pushed in turn under the build's first tag that this build may push
(the tag is re-pointed at each platform's image, then at the index; no temporary tag is left),
its digest recorded and its manifest read back for the index. Then the index is ``PUT`` under
every tag (each one claimed through the tag guard, as single-platform pushes are) and checked:
``success`` needs the registry to answer every tag with the index's digest, and the index to list
exactly the platforms asked for, with the digests that were pushed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.registry_api import Manifest
from worker.deadline import Checkpoint, Deadline
from worker.errors import RegistryError
from worker.manifests import (
    INDEX_TYPES,
    Descriptor,
    index_document,
    index_platforms,
)
from worker.progress import ProgressSink
from worker.push import DEFAULT_PUSH_READ_TIMEOUT_SECONDS, PushGuard, PushResult, push_tag
from worker.registry import Credentials, RegistryClient, verify_digest

LineFn = Callable[[str], None]


@dataclass(frozen=True)
class PlatformImage:
    """One platform's built image (local image id) before it is pushed."""

    platform: str
    image_id: str


@dataclass(frozen=True)
class IndexPush:
    result: PushResult  # digest: the index's
    descriptors: tuple[Descriptor, ...]  # the platforms' pushed manifests

    @property
    def platform_digests(self) -> tuple[tuple[str, str], ...]:
        return tuple((d.platform, d.digest) for d in self.descriptors)


@dataclass(frozen=True)
class PushTarget:
    """Where and how the images go."""

    api: Any
    image: str  # registry/repository
    image_path: str  # repository, without the host
    registry: RegistryClient
    credentials: Credentials | None
    deadline: Deadline
    on_line: LineFn
    checkpoint: Checkpoint | None = None
    read_timeout: float = DEFAULT_PUSH_READ_TIMEOUT_SECONDS
    # Called just before each push (each platform's image, each index) with what it is about
    # to do; raises to stop the build (the fence of worker.fence: is the build still ours?).
    fence: Callable[[str], None] | None = None

    def before(self, activity: str) -> None:
        if self.fence is not None:
            self.fence(activity)


def prefixed(on_line: LineFn, platform: str) -> LineFn:
    """``on_line`` for one platform's lines: each starts with ``[linux/arm64]``."""

    def emit(line: str) -> None:
        on_line(f"[{platform}] {line}")

    return emit


def push_platform_images(
    target: PushTarget, images: Sequence[PlatformImage], tag: str
) -> tuple[Descriptor, ...]:
    """Push every platform's image under ``tag`` in turn; each one's manifest as a descriptor."""
    descriptors: list[Descriptor] = []
    reference = f"{target.image}:{tag}"
    for item in images:
        target.before(f"pushing {reference} ({item.platform})")
        target.api.tag(item.image_id, target.image, tag=tag, force=True)
        digest = push_tag(
            target.api,
            target.image,
            tag,
            target.credentials,
            target.deadline,
            prefixed(target.on_line, item.platform),
            target.checkpoint,
            target.read_timeout,
        )
        verify_digest(target.registry, target.image_path, tag, digest)
        manifest = pushed_manifest(target.registry, target.image_path, digest)
        descriptors.append(
            Descriptor(item.platform, digest, len(manifest.body), manifest.media_type)
        )
        target.on_line(f"[{item.platform}] Pushed {reference} as {digest}")
    return tuple(descriptors)


def pushed_manifest(registry: RegistryClient, image_path: str, reference: str) -> Manifest:
    """The manifest the registry holds for ``reference``, which was just pushed."""
    manifest = registry.get_manifest(image_path, reference)
    if manifest is None:
        raise RegistryError(
            f"Registry {registry.host} does not have {image_path}@{reference} after pushing it"
        )
    return manifest


def check_index(
    registry: RegistryClient, image_path: str, tag: str, descriptors: tuple[Descriptor, ...]
) -> None:
    """Raise unless the registry's index for ``tag`` lists exactly the pushed platforms."""
    manifest = pushed_manifest(registry, image_path, tag)
    media_type, body = manifest.media_type, manifest.body
    if media_type not in INDEX_TYPES:
        raise RegistryError(
            f"Registry {registry.host} answers {image_path}:{tag} with {media_type or 'no type'},"
            " not an image index"
        )
    listed = index_platforms(body)
    wanted = {d.platform: d.digest for d in descriptors}
    if listed != wanted:
        shown = ", ".join(f"{p} {d[:19]}" for p, d in sorted(listed.items())) or "nothing"
        raise RegistryError(
            f"The index of {image_path}:{tag} on registry {registry.host} lists {shown},"
            f" not the platforms pushed ({', '.join(sorted(wanted))})"
        )


def push_index(
    target: PushTarget,
    images: Sequence[PlatformImage],
    tags: Sequence[str],
    *,
    before_tag: Callable[[str], None] | None = None,
    guard: PushGuard | None = None,
    progress: ProgressSink | None = None,
) -> IndexPush:
    """Push the platforms' images and one index under every tag (see the module's doc)."""
    descriptors: tuple[Descriptor, ...] = ()
    index_digest: str | None = None
    pushed: list[str] = []
    skipped: list[str] = []
    for tag in tags:
        reference = f"{target.image}:{tag}"
        with guard.claim(tag) if guard is not None else contextlib.nullcontext(None) as skip:
            if skip is not None:
                target.on_line(skip)
                skipped.append(tag)
                continue
            if before_tag is not None:
                before_tag(reference)
            if not descriptors:
                descriptors = push_platform_images(target, images, tag)
            media_type, body = index_document(descriptors)
            target.before(f"pushing the index {reference}")
            digest = target.registry.put_manifest_body(target.image_path, tag, media_type, body)
            index_digest = index_digest or digest
            target.deadline.check(f"verifying {reference} with the registry")
            verify_digest(target.registry, target.image_path, tag, index_digest)
            check_index(target.registry, target.image_path, tag, descriptors)
            platforms = ", ".join(d.platform for d in descriptors)
            target.on_line(
                f"Registry {target.registry.host} confirms {reference} is the index"
                f" {index_digest} of {platforms}"
            )
            if guard is not None:
                guard.record_push(tag, index_digest)
            if progress is not None:
                progress.pushed(tag, index_digest)
            pushed.append(tag)
    result = PushResult(digest=index_digest, tags=tuple(pushed), skipped=tuple(skipped))
    return IndexPush(result, descriptors)
