"""The Docker client an attempt's phases share, and the registry they push to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from buildrules.model import Config
from core.registry_address import registry_host_of
from core.settings import Settings
from worker.docker_client import DEFAULT_TIMEOUT_SECONDS, ping
from worker.errors import WorkerError
from worker.phases.base import PhaseEnv
from worker.registry import Credentials, resolve_credentials


def registry_credentials(settings: Settings, config: Config) -> dict[str, dict[str, str]]:
    """The credentials of every configured registry whose variables are set (sent with builds,
    for ``FROM`` images on those registries)."""
    found: dict[str, dict[str, str]] = {}
    for entry in config.registries:
        try:
            credentials = resolve_credentials(config, settings, entry.host)
        except WorkerError:
            continue
        if credentials is not None:
            found[entry.host] = credentials.auth_config()
    return found


def docker_api(env: PhaseEnv) -> Any:
    """The attempt's low-level Docker client: made (and pinged) once, cut by a cancel, closed
    when the attempt ends (which also drops a build still streaming: the daemon aborts it)."""
    api = env.shared.get("docker")
    if api is None:
        context = env.context
        api = context.docker(
            DEFAULT_TIMEOUT_SECONDS, registry_credentials(context.settings, context.config)
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
