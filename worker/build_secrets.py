"""Build secrets and the BuildKit session that hands them (and registry credentials) to a build.

Only BuildKit can mount a secret into a ``RUN`` step, and it reads the value from the client's
session (:mod:`worker.buildkit_session`), never from the build request. The session also answers
registry credentials, so a ``FROM`` image on a configured private registry pulls. Every BuildKit
build (:mod:`worker.builders`) opens one; a rule with secrets on ``builder: legacy`` is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from buildrules.model import Repository
from core.masking import MIN_SECRET_LENGTH
from core.settings import Settings
from worker.buildkit_session import BuildSession, SessionError
from worker.buildkit_session.services import MAX_SECRET_BYTES
from worker.docker_build import BuildRequest
from worker.errors import DaemonError, UserBuildError


def secret_values(
    repository: Repository, rule_indexes: tuple[int, ...], settings: Settings
) -> dict[str, bytes]:
    """The build secrets of the rules that asked for this build (the repository's when no rule
    is known), read from the worker's environment; an unset variable fails the build by name."""
    rules = [repository.build_rules[i] for i in rule_indexes if i < len(repository.build_rules)]
    declared: dict[str, str] = dict(repository.secrets)
    for rule in rules:
        declared.update(rule.secrets)
    values: dict[str, bytes] = {}
    for secret_id, env_name in declared.items():
        value = settings.secret(env_name)
        if value is None:
            raise UserBuildError(
                f"Build secret {secret_id} needs the environment variable {env_name} on the worker,"
                " and it is not set"
            )
        values[secret_id] = value.encode()
        if len(value) < MIN_SECRET_LENGTH:  # the masker leaves shorter values alone
            raise UserBuildError(
                f"Build secret {secret_id} ({env_name}) is shorter than {MIN_SECRET_LENGTH}"
                " characters, too short to be masked in the log"
            )
        if len(values[secret_id]) > MAX_SECRET_BYTES:
            raise UserBuildError(
                f"Build secret {secret_id} is larger than BuildKit's {MAX_SECRET_BYTES} bytes"
            )
    return values


def session_credentials(found: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[str, str]]:
    """``registry_credentials`` (host -> auth_config) as the session's host -> (user, password)."""
    return {host: (auth["username"], auth["password"]) for host, auth in found.items()}


@contextlib.contextmanager
def buildkit_session(api: Any, request: BuildRequest, lifetime: float) -> Iterator[BuildSession]:
    """The session a BuildKit build of ``request`` names: its secrets and registry credentials
    (every BuildKit build opens one; the daemon forgets it, and the secrets, when it closes)."""
    try:
        with BuildSession.open(
            api, secrets=request.secrets, registry_auth=request.registry_auth, lifetime=lifetime
        ) as session:
            yield session
    except SessionError as exc:
        raise DaemonError(f"Could not open a BuildKit session for the build: {exc}") from exc
