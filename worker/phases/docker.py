"""The Docker client an attempt's phases share, and the registry they push to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from buildrules.model import Config, Repository
from core.registry_address import registry_host_of
from core.settings import Settings
from worker.docker_client import DEFAULT_TIMEOUT_SECONDS, ping
from worker.errors import WorkerError
from worker.phases.base import PhaseEnv
from worker.registry import Credentials, resolve_credentials


def registry_credentials(
    settings: Settings, config: Config, repository: Repository
) -> dict[str, dict[str, str]]:
    """The credentials a build of ``repository`` is sent (the Docker client's auth config, the
    BuildKit session's registry auth), for ``FROM`` images: only those of the registries the
    repository uses (where its images go, and its ``pull_registries``) whose variables are set.
    Another repository's registry gets no credentials, so its private images stay private."""
    found: dict[str, dict[str, str]] = {}
    for host in repository.credential_hosts:
        try:
            credentials = resolve_credentials(config, settings, host)
        except WorkerError:
            continue
        if credentials is not None:
            found[host] = credentials.auth_config()
    return found


def docker_api(env: PhaseEnv) -> Any:
    """The attempt's low-level Docker client: made (and pinged) once, cut by a cancel, closed
    when the attempt ends (which also drops a build still streaming: the daemon aborts it)."""
    api = env.shared.get("docker")
    if api is None:
        context = env.context
        api = context.docker(
            DEFAULT_TIMEOUT_SECONDS,
            registry_credentials(context.settings, context.config, env.repository),
        )
        env.resources.callback(api.close)
        env.shared["docker"] = api
        if env.watcher is not None and hasattr(api, "abort_streams"):
            env.watcher.on_abort(api.abort_streams)
        ping(api)
    return api


@dataclass(frozen=True)
class RegistryTarget:
    """Where the image goes: the registry host and its credentials (None: anonymous)."""

    host: str
    credentials: Credentials | None


def registry_target(env: PhaseEnv) -> RegistryTarget:
    host = registry_host_of(env.record.image)
    return RegistryTarget(host, resolve_credentials(env.context.config, env.context.settings, host))
