"""Process settings: the one place that reads ``os.environ``.

Secrets named by the YAML (``*_env`` keys) are looked up through :meth:`Settings.secret`, so no
other module needs the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = PROJECT_ROOT / "demo" / "autobuild.yml"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub's payload cap
DEFAULT_QUEUE_NAME = "autobuild"
DEFAULT_MAX_QUEUED_BUILDS = 500
DEFAULT_URL = "http://127.0.0.1:8000"  # where the CLI finds the web process
DEFAULT_LOG_MAX_LINES = 20_000  # lines kept per build log (the oldest are dropped)
DEFAULT_LOG_RETENTION_DAYS = 30  # days a build log is kept after its last line
DEFAULT_MAX_CONTEXT_BYTES = 2 * 1024**3  # a bigger build context fails the build (0: no limit)
DEFAULT_PRUNE_THRESHOLD_PERCENT = 80  # prune Docker when its data disk is this full (0: never)
DEFAULT_PRUNE_MIN_AGE_SECONDS = 3600  # younger dangling images and cache are left alone


class SettingsError(ValueError):
    """An environment variable holds a value Autobuild cannot use."""


def _bool_from_env(environ: Mapping[str, str], name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0, not {raw!r}")


def _int_from_env(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < 0:
        raise SettingsError(f"{name} must not be negative, not {value}")
    return value


def _percent_from_env(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _int_from_env(environ, name, default)
    if value > 100:
        raise SettingsError(f"{name} must be a percentage from 0 to 100, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    config_path: Path
    redis_url: str = DEFAULT_REDIS_URL
    workdir: Path = PROJECT_ROOT / "var"
    admin_token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    queue_name: str = DEFAULT_QUEUE_NAME
    public_url: str | None = None
    docker_host: str | None = None
    port: int = 8000
    max_queued_builds: int = DEFAULT_MAX_QUEUED_BUILDS
    private: bool = False  # AUTOBUILD_PRIVATE=1: UI pages and GET API need the admin token
    log_max_lines: int = DEFAULT_LOG_MAX_LINES
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    url: str = DEFAULT_URL  # AUTOBUILD_URL: the API the CLI talks to
    api_token: str | None = field(default=None, repr=False)  # AUTOBUILD_TOKEN, else the admin token
    # Containment of builds (worker/containment.py): AUTOBUILD_MAX_CONTEXT_BYTES,
    # AUTOBUILD_PRUNE_THRESHOLD_PERCENT and AUTOBUILD_PRUNE_MIN_AGE (seconds).
    max_context_bytes: int = DEFAULT_MAX_CONTEXT_BYTES
    prune_threshold_percent: int = DEFAULT_PRUNE_THRESHOLD_PERCENT
    prune_min_age_seconds: int = DEFAULT_PRUNE_MIN_AGE_SECONDS
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            config_path=Path(env.get("AUTOBUILD_CONFIG") or DEMO_CONFIG),
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            workdir=Path(env.get("AUTOBUILD_WORKDIR") or PROJECT_ROOT / "var"),
            admin_token=env.get("AUTOBUILD_ADMIN_TOKEN") or None,
            max_body_bytes=_int_from_env(env, "AUTOBUILD_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            queue_name=env.get("AUTOBUILD_QUEUE") or DEFAULT_QUEUE_NAME,
            public_url=env.get("AUTOBUILD_PUBLIC_URL") or None,
            docker_host=env.get("DOCKER_HOST") or None,
            port=_int_from_env(env, "PORT", 8000),
            max_queued_builds=_int_from_env(env, "AUTOBUILD_MAX_QUEUED", DEFAULT_MAX_QUEUED_BUILDS),
            private=_bool_from_env(env, "AUTOBUILD_PRIVATE"),
            log_max_lines=_int_from_env(env, "AUTOBUILD_LOG_MAX_LINES", DEFAULT_LOG_MAX_LINES),
            log_retention_days=_int_from_env(
                env, "AUTOBUILD_LOG_RETENTION_DAYS", DEFAULT_LOG_RETENTION_DAYS
            ),
            url=(env.get("AUTOBUILD_URL") or DEFAULT_URL).rstrip("/"),
            api_token=env.get("AUTOBUILD_TOKEN") or env.get("AUTOBUILD_ADMIN_TOKEN") or None,
            max_context_bytes=_int_from_env(
                env, "AUTOBUILD_MAX_CONTEXT_BYTES", DEFAULT_MAX_CONTEXT_BYTES
            ),
            prune_threshold_percent=_percent_from_env(
                env, "AUTOBUILD_PRUNE_THRESHOLD_PERCENT", DEFAULT_PRUNE_THRESHOLD_PERCENT
            ),
            prune_min_age_seconds=_int_from_env(
                env, "AUTOBUILD_PRUNE_MIN_AGE", DEFAULT_PRUNE_MIN_AGE_SECONDS
            ),
            environ=MappingProxyType(env),
        )

    def secret_values(self, env_names: Iterable[str]) -> list[str]:
        """The values of every named secret that is set, plus the admin token: what to mask."""
        values = [self.secret(name) for name in env_names] + [self.admin_token]
        return [value for value in values if value]

    def secret(self, env_name: str | None) -> str | None:
        """The value of the environment variable a ``*_env`` key names, or None when unset."""
        if not env_name:
            return None
        value = self.environ.get(env_name)
        return value or None
