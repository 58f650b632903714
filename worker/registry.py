"""The registry's HTTP API: what digest does it hold for a tag?

Used after every push: ``HEAD /v2/<name>/manifests/<tag>`` with Accept for OCI manifests and indexes
and Docker schema 2 manifests and lists, answering the registry's authentication challenge (Basic,
or Bearer through its token service) with the configured credentials. The push stream's digest
only counts once the registry answers the tag with that same digest.
"""

from __future__ import annotations

from buildrules.model import Config
from core.registry_api import (
    DEFAULT_TIMEOUT_SECONDS,
    DIGEST_RE,
    MANIFEST_ACCEPT,
    MANIFEST_TYPES,
    Credentials,
    RegistryAPI,
    RegistryAPIError,
    configured_credentials,
    parse_challenge,
    repository_name,
    short_reason,
)
from core.settings import Settings
from worker.errors import DigestMismatchError, RegistryError, WorkerError

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DIGEST_RE",
    "MANIFEST_ACCEPT",
    "MANIFEST_TYPES",
    "Credentials",
    "RegistryAPI",
    "RegistryClient",
    "parse_challenge",
    "repository_name",
    "resolve_credentials",
    "short_reason",
    "verify_digest",
]


def resolve_credentials(config: Config, settings: Settings, host: str) -> Credentials | None:
    """The configured credentials for registry ``host`` (see
    :func:`core.registry_api.configured_credentials`); unset variables are a WorkerError."""
    try:
        return configured_credentials(config, settings, host)
    except RegistryAPIError as exc:
        raise WorkerError(str(exc)) from None


class RegistryClient(RegistryAPI):
    """The registry API for the worker: its failures are infrastructure errors of the build."""

    error = RegistryError


def verify_digest(client: RegistryClient, name: str, tag: str, expected: str) -> None:
    """Raise unless the registry holds ``name:tag`` with digest ``expected``."""
    actual = client.manifest_digest(name, tag)
    reference = f"{client.host}/{name}:{tag}"
    if actual is None:
        raise RegistryError(f"Registry {client.host} does not have {reference} after pushing it")
    if actual != expected:
        raise DigestMismatchError(
            f"Registry {client.host} holds {reference} with digest {actual},"
            f" but the push reported {expected}"
        )
