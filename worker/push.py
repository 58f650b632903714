"""Pushing every tag, and believing nothing until the registry confirms it.

The Engine reports push failures inside a 200 stream, so each push is consumed to its end: any
``error`` chunk fails the build, and the final ``aux`` record must carry the manifest digest. Then
the registry is asked for each tag (:mod:`worker.registry`) and must answer with that digest.
Credentials are passed explicitly as ``auth_config`` (an empty one when the configuration has none,
so the worker's own ``~/.docker/config.json`` is never used).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import docker.errors
import requests
import urllib3.exceptions

from worker.deadline import Checkpoint, Deadline
from worker.errors import DaemonError, PushError, PushRefusedError, RegistryError, api_error_text
from worker.progress import ProgressSink
from worker.registry import DIGEST_RE, Credentials, RegistryClient, verify_digest
from worker.streams import aux_value, status_line, stream_error

DEFAULT_PUSH_READ_TIMEOUT_SECONDS = 15 * 60  # a single layer upload may stay silent this long
_REFUSAL = re.compile(
    r"unauthori[sz]ed|denied|forbidden|authentication required|no basic auth", re.I
)

LineFn = Callable[[str], None]


def consume_push_stream(
    chunks: Iterable[Any],
    reference: str,
    on_line: LineFn,
    checkpoint: Checkpoint = lambda: None,
) -> str:
    """Log a push stream's milestones and return the digest from its ``aux`` record.

    Any ``error`` chunk raises :class:`PushError` naming the reference; so does a stream that ends
    without a well-formed digest.
    """
    digest: str | None = None
    for chunk in chunks:
        checkpoint()
        if not isinstance(chunk, dict):
            continue
        message = stream_error(chunk)
        if message is not None:
            if _REFUSAL.search(message):
                raise PushRefusedError(f"Push of {reference} was refused: {message}")
            raise PushError(f"Push of {reference} failed: {message}")
        line = status_line(chunk)
        if line is not None:
            on_line(line)
        digest = aux_value(chunk, "Digest") or digest
    checkpoint()  # a stream cut short by a cancel or a time limit ends here, with its reason
    if digest is None:
        raise PushError(f"Push of {reference} ended without a digest from the registry")
    if not DIGEST_RE.fullmatch(digest):
        raise PushError(f"Push of {reference} reported a malformed digest {digest!r}")
    return digest


def push_tag(
    api: Any,
    image: str,
    tag: str,
    credentials: Credentials | None,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
    read_timeout: float = DEFAULT_PUSH_READ_TIMEOUT_SECONDS,
) -> str:
    """Push ``image:tag``; returns the digest the push stream reported. ``read_timeout`` bounds
    the silence between two chunks (and never reaches past the deadline)."""
    reference = f"{image}:{tag}"
    check = checkpoint or deadline.checkpoint(f"pushing {reference}")
    auth_config = credentials.auth_config() if credentials is not None else {}
    api.timeout = deadline.backstop(read_timeout)  # the SDK's push uses the client's timeout
    try:
        chunks = api.push(image, tag=tag, stream=True, decode=True, auth_config=auth_config)
        return consume_push_stream(chunks, reference, on_line, check)
    except docker.errors.APIError as exc:
        raise PushError(f"Push of {reference} failed: {api_error_text(exc)}") from exc
    except (
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,
        docker.errors.DockerException,
        OSError,
    ) as exc:
        if deadline.expired:
            raise deadline.error(f"pushing {reference}") from exc
        if isinstance(exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            raise PushError(
                f"Push of {reference} stalled: the Docker daemon reported no progress"
            ) from exc
        raise DaemonError(
            f"Lost the connection to the Docker daemon while pushing {reference}: {exc}"
        ) from exc


class PushGuard(Protocol):
    """Decides, per tag, whether this build may push it (see :mod:`worker.tagorder`)."""

    def claim(self, tag: str) -> AbstractContextManager[str | None]:
        """Hold the tag while it is pushed; yields None to push it, or why it is skipped."""
        ...

    def record_push(self, tag: str, digest: str) -> None: ...


@dataclass(frozen=True)
class PushResult:
    digest: str | None  # None when every tag was skipped
    tags: tuple[str, ...]  # the tags pushed
    skipped: tuple[str, ...] = ()  # the tags a newer commit's build had already pushed


def push_all(
    api: Any,
    image: str,
    image_path: str,
    registry: RegistryClient,
    tags: Iterable[str],
    credentials: Credentials | None,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
    read_timeout: float = DEFAULT_PUSH_READ_TIMEOUT_SECONDS,
    *,
    before_tag: Callable[[str], None] | None = None,
    guard: PushGuard | None = None,
    progress: ProgressSink | None = None,
) -> PushResult:
    """Push every tag and have the registry confirm it, one tag at a time; all must share one
    digest. ``before_tag(reference)`` runs before each push (it raises to stop the build: a
    cancel never lets another tag out); ``guard`` may skip a tag and records each one pushed;
    ``progress`` hears of each tag the registry confirmed."""
    pushed: list[tuple[str, str]] = []
    skipped: list[str] = []
    for tag in tags:
        reference = f"{image}:{tag}"
        with guard.claim(tag) if guard is not None else contextlib.nullcontext(None) as skip:
            if skip is not None:
                on_line(skip)
                skipped.append(tag)
                continue
            if before_tag is not None:
                before_tag(reference)
            digest = push_tag(
                api, image, tag, credentials, deadline, on_line, checkpoint, read_timeout
            )
            on_line(f"Pushed {reference} as {digest}")
            if pushed and digest != pushed[0][1]:
                listing = ", ".join(f"{t} as {d}" for t, d in [*pushed, (tag, digest)])
                raise RegistryError(
                    f"The tags of {image} were pushed with different digests ({listing});"
                    " did another build push the same tags meanwhile?"
                )
            deadline.check(f"verifying {reference} with the registry")
            verify_digest(registry, image_path, tag, digest)
            on_line(f"Registry {registry.host} confirms {reference} is {digest}")
            if guard is not None:
                guard.record_push(tag, digest)
            if progress is not None:
                progress.pushed(tag, digest)
            pushed.append((tag, digest))
    if not pushed and not skipped:
        raise PushError(f"There was no tag to push for {image}")
    return PushResult(
        digest=pushed[0][1] if pushed else None,
        tags=tuple(tag for tag, _ in pushed),
        skipped=tuple(skipped),
    )
