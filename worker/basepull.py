"""``pull: true``: every ``FROM`` image fresh from its registry before the build, its digest logged.

The images are the Dockerfile's ``FROM`` lines, every stage, with ``ARG`` defaults and the build's
build args applied; ``scratch`` and the names of earlier stages are not images
(:func:`worker.attest.base_references`, which the provenance uses too).

- **Legacy builder**: each image is pulled through the daemon (``POST /images/create``) with the
  configured credentials for its registry, and the build then uses exactly what was pulled (the
  digest logged is the digest built from). With ``platforms``, each platform's variant is pulled
  in turn for the log, and each platform's build asks the daemon to pull again (``pull=1``): the
  daemon's image store keeps one variant per tag.
- **BuildKit**: the build request carries ``pull=1`` (BuildKit resolves every ``FROM`` at the
  registry instead of using its cache or the daemon's images; the credentials come through the
  build's session), and the digest each image resolves to is read from the registry
  (``HEAD /v2/<name>/manifests/<tag>``) for the log. A failed lookup is logged and the build goes
  on: BuildKit's own pull then says what is wrong.

Why not by default: a worker without access to the base images' registry (offline, air-gapped)
builds from what its daemon has; without a pull a rebuild of the same commit uses the same base
(reproducible); and registries such as Docker Hub limit anonymous pulls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors
import requests
import urllib3.exceptions

from core.registry_api import DIGEST_RE, split_image, split_reference
from worker.deadline import Checkpoint, Deadline
from worker.errors import DaemonError, RegistryError, UserBuildError, WorkerError, api_error_text
from worker.registry import Credentials, RegistryClient
from worker.streams import stream_error

LineFn = Callable[[str], None]
CredentialsFor = Callable[[str], Credentials | None]  # registry host -> its credentials
REGISTRY_TIMEOUT_SECONDS = 30.0
_DAEMON_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    docker.errors.DockerException,
    OSError,
)


def build_pulls(builder: str, platforms: tuple[str, ...], pull: bool) -> bool:
    """Whether the build itself asks the daemon to pull (``pull=1``): BuildKit always with
    ``pull: true``; the legacy builder only for ``platforms`` (one platform builds from what
    :func:`pull_bases` pulled)."""
    return pull and (builder != "legacy" or bool(platforms))


@dataclass(frozen=True)
class BaseDigest:
    """A ``FROM`` image and the digest it resolved to (None: unknown)."""

    reference: str
    digest: str | None
    platform: str | None = None


def pull_bases(
    api: Any,
    references: tuple[str, ...],
    credentials_for: CredentialsFor,
    *,
    platforms: tuple[str, ...] = (),
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint,
) -> tuple[BaseDigest, ...]:
    """Pull each image through the daemon (once per platform when ``platforms`` are given) and
    log the digest it resolved to; a failed pull fails the build."""
    found = []
    for reference in references:
        for platform in platforms or (None,):
            checkpoint()
            where = f" for {platform}" if platform else ""
            on_line(f"Pulling base image {reference}{where}")
            started = time.monotonic()
            digest = pull_one(api, reference, credentials_for, platform, deadline, checkpoint)
            on_line(
                f"Pulled base image {reference}{where}: {digest or 'of unknown digest'}"
                f" ({time.monotonic() - started:.1f} s)"
            )
            found.append(BaseDigest(reference, digest, platform))
    return tuple(found)


def pull_one(
    api: Any,
    reference: str,
    credentials_for: CredentialsFor,
    platform: str | None,
    deadline: Deadline,
    checkpoint: Checkpoint,
) -> str | None:
    """Pull ``reference``; the digest the daemon reports (None when it reports none)."""
    name, tag = split_reference(reference)
    credentials = credentials_for(split_image(name)[0])
    auth_config = credentials.auth_config() if credentials is not None else None
    digest = tag if DIGEST_RE.fullmatch(tag) else None
    try:
        chunks = api.pull(
            name, tag=tag, stream=True, decode=True, auth_config=auth_config, platform=platform
        )
        for chunk in chunks:
            checkpoint()
            if not isinstance(chunk, dict):
                continue
            message = stream_error(chunk)
            if message is not None:
                raise UserBuildError(f"Could not pull base image {reference}: {message}")
            status = str(chunk.get("status", ""))
            if status.startswith("Digest: ") and DIGEST_RE.fullmatch(status[8:].strip()):
                digest = status[8:].strip()
    except docker.errors.APIError as exc:
        if exc.is_client_error():
            raise UserBuildError(
                f"Could not pull base image {reference}: {api_error_text(exc)}"
            ) from exc
        raise DaemonError(
            f"The Docker daemon failed to pull {reference}: {api_error_text(exc)}"
        ) from exc
    except _DAEMON_ERRORS as exc:
        if deadline.expired:
            raise deadline.error(f"pulling {reference}") from exc
        raise DaemonError(f"Lost the Docker daemon while pulling {reference}: {exc}") from exc
    return digest


def resolve_bases(
    references: tuple[str, ...],
    credentials_for: CredentialsFor,
    on_line: LineFn,
    insecure_registries: frozenset[str] = frozenset(),
) -> tuple[BaseDigest, ...]:
    """The digest each image's tag has at its registry now (for BuildKit's ``pull=1``), logged."""
    found = []
    for reference in references:
        digest, problem = registry_digest(reference, credentials_for, insecure_registries)
        if digest is not None:
            on_line(f"Base image {reference} resolves to {digest} (BuildKit pulls it fresh)")
        else:
            on_line(
                f"Base image {reference}: could not ask its registry for the digest ({problem})"
            )
        found.append(BaseDigest(reference, digest))
    return tuple(found)


def registry_digest(
    reference: str,
    credentials_for: CredentialsFor,
    insecure_registries: frozenset[str] = frozenset(),
) -> tuple[str | None, str | None]:
    """``(digest, None)``, or ``(None, why not)``."""
    name, tag = split_reference(reference)
    if DIGEST_RE.fullmatch(tag):
        return tag, None
    host, path = split_image(name)
    try:
        credentials = credentials_for(host)
        with RegistryClient(
            host,
            credentials,
            timeout=REGISTRY_TIMEOUT_SECONDS,
            insecure_registries=insecure_registries,
        ) as registry:
            digest = registry.manifest_digest(path, tag)
    except (RegistryError, WorkerError) as exc:
        return None, str(exc)
    return (digest, None) if digest else (None, f"the registry has no {path}:{tag}")
