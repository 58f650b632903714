"""Warm layers on cold workers: the image last pushed for the build's tags is its layer cache.

The legacy builder (the Docker SDK's) reuses a step from an image named in ``cache_from`` only
when that image is in the local daemon, and with ``cache_from`` it ignores every local image that
is not in the chain of a named one (docker/cli#1597, moby/moby#26839). So, before building:

- the rule's ``build_caching: false``: nothing is pulled and the build runs with ``nocache``
  (Docker Hub's toggle: every step runs);
- otherwise, for each of the build's tags (the first one first), the registry is asked which
  manifest the tag points at. A tag it does not have is not an error (the first build of it).
  When the daemon already has that image (this worker built or pulled it), the daemon's own cache
  covers it and nothing is pulled; otherwise it is pulled, with the configured credentials passed
  explicitly, and named in ``cache_from`` together with the images the daemon already had.
  ``cache_from`` is only ever set to images that are in the daemon: a missing one would switch
  the whole local cache off.
- Only the build's own image (registry and repository of the configuration) is ever asked for,
  pulled or used as a cache source: a cache image is trusted content.
- Any failure to ask or to pull is logged, and the build goes on without that source: caching
  never fails a build. A cancel or the build's deadline still stops it (the checkpoint raises).

One line in the build log says which cache source the build used.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import docker.errors
import requests
import urllib3.exceptions

from core.registry_address import image_path, registry_host_of
from worker.deadline import Checkpoint, Deadline
from worker.errors import RegistryError, api_error_text
from worker.registry import Credentials, RegistryClient
from worker.streams import stream_error

MAX_CACHE_TAGS = 4  # tags asked for (a semver fan-out mostly shares one digest)
PULL_READ_TIMEOUT_SECONDS = 300.0  # silence allowed between two chunks of a cache pull

LineFn = Callable[[str], None]


class SourceState(enum.StrEnum):
    MISSING = "missing"  # the registry does not have the tag (yet)
    LOCAL = "local"  # the daemon already has the image the tag points at
    PULLED = "pulled"  # pulled for this build
    FAILED = "failed"  # asking or pulling failed; logged, not used


@dataclass(frozen=True)
class CacheSource:
    reference: str  # image:tag
    state: SourceState
    digest: str | None = None
    detail: str = ""

    @property
    def local_reference(self) -> str:
        """How the daemon finds this image: by digest when it had it, by tag when pulled."""
        if self.state is SourceState.LOCAL and self.digest:
            return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"
        return self.reference


@dataclass(frozen=True)
class LayerCache:
    """What the build is given: ``nocache`` and ``cache_from``, and the line that explains it."""

    nocache: bool
    cache_from: tuple[str, ...]
    sources: tuple[CacheSource, ...]
    summary: str


# --- the decisions (pure) ----------------------------------------------------------------------


def cache_references(
    image: str, tags: Sequence[str], own_images: Collection[str], limit: int = MAX_CACHE_TAGS
) -> tuple[str, ...]:
    """``image:tag`` for the build's tags (first tag first, no repeats, at most ``limit``); none
    when ``image`` is not one of the repository's own images."""
    if image not in own_images:
        return ()
    unique = list(dict.fromkeys(tag for tag in tags if tag))
    return tuple(f"{image}:{tag}" for tag in unique[:limit])


def _short(digest: str | None) -> str:
    return digest[:19] + "…" if digest and len(digest) > 19 else (digest or "")


def decide(build_caching: bool, sources: Sequence[CacheSource]) -> LayerCache:
    """The build's cache options from what was found for each candidate."""
    if not build_caching:
        return LayerCache(
            nocache=True,
            cache_from=(),
            sources=(),
            summary="Layer cache: off (build_caching: false); every step runs",
        )
    pulled = [s for s in sources if s.state is SourceState.PULLED]
    local = [s for s in sources if s.state is SourceState.LOCAL]
    if pulled:
        named = [s.local_reference for s in (*pulled, *local)]
        cache_from = tuple(dict.fromkeys(named))
        shown = ", ".join(f"{s.reference} ({_short(s.digest)})" for s in pulled)
        summary = f"Layer cache: {shown} pulled from the registry; building with cache_from"
        if local:
            summary += " it and the images this worker has"
        return LayerCache(False, cache_from, tuple(sources), summary)
    if local:
        shown = ", ".join(f"{s.reference} ({_short(s.digest)})" for s in local)
        summary = f"Layer cache: this worker's own; it already has {shown}"
    elif sources and all(s.state is SourceState.MISSING for s in sources):
        summary = (
            f"Layer cache: this worker's own; {sources[0].reference} is not in the registry yet"
        )
    else:
        summary = "Layer cache: this worker's own"
    failed = [s for s in sources if s.state is SourceState.FAILED]
    if failed:
        summary += "; " + "; ".join(f"not using {s.reference}: {s.detail}" for s in failed)
    return LayerCache(False, (), tuple(sources), summary)


# --- asking the registry and the daemon --------------------------------------------------------

_DAEMON_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)


def _daemon_has(api: Any, image: str, digest: str) -> bool:
    try:
        api.inspect_image(f"{image}@{digest}")
        return True
    except docker.errors.NotFound:
        return False
    except _DAEMON_ERRORS:
        return False  # the pull will tell


def _pull(
    api: Any,
    image: str,
    tag: str,
    credentials: Credentials | None,
    checkpoint: Checkpoint,
) -> str | None:
    """Pull ``image:tag``; None when it worked, else why not. The checkpoint's exception (a
    cancel, the deadline) is not caught."""
    auth_config = credentials.auth_config() if credentials is not None else {}
    try:
        chunks = api.pull(image, tag=tag, stream=True, decode=True, auth_config=auth_config)
        for chunk in chunks:
            checkpoint()
            if isinstance(chunk, dict):
                message = stream_error(chunk)
                if message is not None:
                    return message
    except docker.errors.APIError as exc:
        return api_error_text(exc)
    except _DAEMON_ERRORS as exc:
        return f"the Docker daemon did not finish the pull ({type(exc).__name__})"
    return None


def find_sources(
    api: Any,
    registry: RegistryClient,
    image_path: str,
    references: Iterable[str],
    credentials: Credentials | None,
    on_line: LineFn,
    checkpoint: Checkpoint,
) -> list[CacheSource]:
    """For each candidate: is it in the registry, in the daemon, or pulled now?"""
    sources: list[CacheSource] = []
    seen: dict[str, CacheSource] = {}
    for reference in references:
        checkpoint()
        image, _, tag = reference.rpartition(":")
        try:
            digest = registry.manifest_digest(image_path, tag)
        except RegistryError as exc:
            sources.append(CacheSource(reference, SourceState.FAILED, detail=exc.message))
            continue
        if digest is None:
            sources.append(CacheSource(reference, SourceState.MISSING))
            continue
        if digest in seen:  # another tag of this build points at the same image
            continue
        if _daemon_has(api, image, digest):
            source = CacheSource(reference, SourceState.LOCAL, digest)
        else:
            on_line(f"Pulling {reference} ({_short(digest)}) for the layer cache")
            started = time.monotonic()
            problem = _pull(api, image, tag, credentials, checkpoint)
            if problem is None:
                on_line(f"Pulled {reference} in {time.monotonic() - started:.1f} s")
                source = CacheSource(reference, SourceState.PULLED, digest)
            else:
                source = CacheSource(reference, SourceState.FAILED, digest, problem)
        seen[digest] = source
        sources.append(source)
    return sources


def warm_layers(
    api: Any,
    *,
    image: str,
    tags: Sequence[str],
    build_caching: bool,
    own_images: Collection[str],
    credentials: Credentials | None,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
    registry_timeout: float = 30.0,
    insecure_registries: frozenset[str] = frozenset(),
) -> LayerCache:
    """Prepare the layer cache of a build of ``image`` tagged ``tags`` (see the module's doc)
    and log which source it uses. Never raises for a caching problem; the checkpoint (default:
    the deadline's) may raise to stop the build."""
    check = checkpoint or deadline.checkpoint("pulling the layer cache")
    sources: list[CacheSource] = []
    references = cache_references(image, tags, own_images) if build_caching else ()
    if references:
        host, path = registry_host_of(image), image_path(image)
        previous_timeout = getattr(api, "timeout", None)
        try:
            # the watcher cuts the stream on a cancel; this bounds a daemon gone silent
            api.timeout = deadline.backstop(PULL_READ_TIMEOUT_SECONDS)
            with RegistryClient(
                host,
                credentials,
                timeout=registry_timeout,
                insecure_registries=insecure_registries,
            ) as registry:
                sources = find_sources(api, registry, path, references, credentials, on_line, check)
        finally:
            if previous_timeout is not None:
                api.timeout = previous_timeout
    elif build_caching:
        on_line(f"Layer cache: {image} is not one of this repository's images; not pulling it")
    cache = decide(build_caching, sources)
    on_line(cache.summary)
    return cache
