"""Process settings: the one place that reads ``os.environ``.

Secrets named by the YAML (``*_env`` keys) are looked up through :meth:`Settings.secret`, so no
other module needs the environment. The variables are documented in one table,
docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = PROJECT_ROOT / "demo" / "autobuild.yml"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub's payload cap
DEFAULT_QUEUE_NAME = "autobuild"
DEFAULT_MAX_QUEUED_BUILDS = 500
DEFAULT_REDIS_TIMEOUT_SECONDS = 30.0  # a worker's wait for one Redis answer
# A 2xx answer waits this long for a replica to confirm the write (core/replication.py); the
# web's Redis read timeout (5 s, app/context.py) bounds it.
DEFAULT_REDIS_WAIT_MS = 1000
MAX_REDIS_WAIT_MS = 4000
DEFAULT_URL = "http://127.0.0.1:8000"  # where the CLI finds the web process
DEFAULT_LOG_MAX_LINES = 20_000  # lines kept per build log (the oldest are dropped)
DEFAULT_LOG_MAX_BYTES = 50 * 1024 * 1024  # text stored per build log; past it, one truncated line
DEFAULT_LOG_RETENTION_DAYS = 30  # days a build log is kept after its last line
DEFAULT_BUILD_RETENTION_DAYS = 90  # days an ended build's record is kept (0: for ever)
DEFAULT_MAX_CONTEXT_BYTES = 2 * 1024**3  # a bigger build context fails the build (0: no limit)
DEFAULT_MAX_EXPORT_BYTES = 4 * 1024**3  # committed files a build may write to disk (0: no limit)
DEFAULT_PRUNE_THRESHOLD_PERCENT = 80  # prune Docker when its data disk is this full (0: never)
DEFAULT_PRUNE_MIN_AGE_SECONDS = 3600  # younger dangling images and cache are left alone
# Live log streams (app/logstreams.py): open at once per web process and per client, lifetime.
DEFAULT_STREAM_LIMIT = 32
DEFAULT_STREAM_CLIENT_LIMIT = 4
DEFAULT_STREAM_SECONDS = 60.0
DEFAULT_HEARTBEAT_SECONDS = 10.0  # a running build refreshes its heartbeat this often
DEFAULT_LOST_WORKER_GRACE_SECONDS = 60.0  # a build just started is not declared lost before this
DEFAULT_RECOVERY_INTERVAL_SECONDS = 20.0  # every worker looks for lost builds this often
DEFAULT_SCHEDULE_TICK_SECONDS = 15.0  # every worker looks whether a schedule fired this often
DEFAULT_BASE_CHECK_INTERVAL_SECONDS = 3600.0  # one look at base images, across all workers
DEFAULT_RETRY_BACKOFF_SECONDS = (5.0, 20.0, 60.0)  # waits before retries 1, 2, 3 (and later)
DEFAULT_NOTIFY_TIMEOUT_SECONDS = 10.0  # per request to a notification target
# Waits before each new try of a notification that failed; after the last, it is given up
# (about two hours: a receiver down for ten minutes gets every event).
DEFAULT_NOTIFY_BACKOFF_SECONDS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class SettingsError(ValueError):
    """An environment variable holds a value Autobuild cannot use."""


def default_repository_share(max_queued: int) -> int:
    """One repository's share of the queue cap when AUTOBUILD_MAX_QUEUED_PER_REPOSITORY is
    unset: half the cap (at least 1), so one repository cannot fill the queue; 0: no cap."""
    return max(1, max_queued // 2) if max_queued else 0


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


def _seconds_from_env(
    environ: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0
) -> float:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from exc
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{name} must be at least {minimum:g} seconds, not {raw!r}")
    return value


def _time_from_env(environ: Mapping[str, str], name: str) -> datetime | None:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an ISO 8601 time, not {raw!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _backoff_from_env(
    environ: Mapping[str, str],
    name: str,
    default: tuple[float, ...] = DEFAULT_RETRY_BACKOFF_SECONDS,
) -> tuple[float, ...]:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    parts = [part.strip() for part in raw.split(",")]
    if not all(parts):
        raise SettingsError(f"{name} must be seconds separated by commas (5,20,60), not {raw!r}")
    return tuple(_seconds_from_env({name: part}, name, 0.0) for part in parts)


_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
# host[:port] as image references name a registry: DNS name, IPv4 address or [IPv6] address
_REGISTRY_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::[0-9]{{1,5}})?")


def _registry_hosts_from_env(environ: Mapping[str, str], name: str) -> frozenset[str]:
    """``host[:port]`` entries separated by commas (lower-cased), as image references name them."""
    raw = (environ.get(name) or "").strip()
    if not raw:
        return frozenset()
    entries = [part.strip().lower() for part in raw.split(",")]
    for entry in entries:
        if not _REGISTRY_HOST.fullmatch(entry):
            raise SettingsError(
                f"{name} must be registry hosts separated by commas (host or host:port, no"
                f" scheme or path, like 10.0.0.5:5000,registry.lan), not {raw!r}"
            )
    return frozenset(entries)


def _percent_from_env(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _int_from_env(environ, name, default)
    if value > 100:
        raise SettingsError(f"{name} must be a percentage from 0 to 100, not {value}")
    return value


def _redis_wait_from_env(environ: Mapping[str, str]) -> int:
    name = "AUTOBUILD_REDIS_WAIT_MS"
    value = _int_from_env(environ, name, DEFAULT_REDIS_WAIT_MS)
    if value > MAX_REDIS_WAIT_MS:
        raise SettingsError(
            f"{name} must be at most {MAX_REDIS_WAIT_MS} (the web's Redis timeout is 5 s), "
            f"not {value}"
        )
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
    # AUTOBUILD_REDIS_TIMEOUT: how long a worker waits for one Redis answer (a hung Redis)
    redis_timeout_seconds: float = DEFAULT_REDIS_TIMEOUT_SECONDS
    # AUTOBUILD_REDIS_WAIT_MS: a 2xx answer's wait for a replica to confirm the write (0: none)
    redis_wait_ms: int = DEFAULT_REDIS_WAIT_MS
    # AUTOBUILD_MAX_QUEUED_PER_REPOSITORY: one repository's builds waiting at once (0: no cap)
    max_queued_per_repository: int = default_repository_share(DEFAULT_MAX_QUEUED_BUILDS)
    private: bool = False  # AUTOBUILD_PRIVATE=1: UI pages and GET API need the admin token
    log_max_lines: int = DEFAULT_LOG_MAX_LINES
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    build_retention_days: int = DEFAULT_BUILD_RETENTION_DAYS  # AUTOBUILD_BUILD_RETENTION_DAYS
    url: str = DEFAULT_URL  # AUTOBUILD_URL: the API the CLI talks to
    api_token: str | None = field(default=None, repr=False)  # AUTOBUILD_TOKEN, else the admin token
    # Containment of builds (worker/containment.py): AUTOBUILD_MAX_CONTEXT_BYTES,
    # AUTOBUILD_PRUNE_THRESHOLD_PERCENT and AUTOBUILD_PRUNE_MIN_AGE (seconds).
    max_context_bytes: int = DEFAULT_MAX_CONTEXT_BYTES
    # AUTOBUILD_MAX_EXPORT_BYTES (worker/checkout.py): the context directory's committed files,
    # before .dockerignore, summed from the tree before anything is written to the worker's disk.
    max_export_bytes: int = DEFAULT_MAX_EXPORT_BYTES
    prune_threshold_percent: int = DEFAULT_PRUNE_THRESHOLD_PERCENT
    prune_min_age_seconds: int = DEFAULT_PRUNE_MIN_AGE_SECONDS
    # Build control in the workers (core/recovery.py, worker/watch.py), in seconds, from
    # AUTOBUILD_HEARTBEAT_SECONDS, AUTOBUILD_LOST_WORKER_GRACE, AUTOBUILD_RECOVERY_INTERVAL and
    # AUTOBUILD_RETRY_BACKOFF (the wait before each retry, "5,20,60"; the last one repeats).
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    lost_worker_grace_seconds: float = DEFAULT_LOST_WORKER_GRACE_SECONDS
    recovery_interval_seconds: float = DEFAULT_RECOVERY_INTERVAL_SECONDS
    retry_backoff_seconds: tuple[float, ...] = DEFAULT_RETRY_BACKOFF_SECONDS
    signing_key: Path | None = None  # AUTOBUILD_SIGNING_KEY: PEM ECDSA P-256 key signing images
    ssh_known_hosts: Path | None = None  # AUTOBUILD_SSH_KNOWN_HOSTS: host keys for deploy keys
    # Notifications (worker/notify): AUTOBUILD_NOTIFY_TIMEOUT (seconds per request) and
    # AUTOBUILD_NOTIFY_BACKOFF (waits before each new try, "10,30,60"; then it is given up).
    notify_timeout_seconds: float = DEFAULT_NOTIFY_TIMEOUT_SECONDS
    notify_backoff_seconds: tuple[float, ...] = DEFAULT_NOTIFY_BACKOFF_SECONDS
    # Schedules (core/schedules.py): AUTOBUILD_SCHEDULE_TICK (seconds between each worker's looks
    # at the clock) and AUTOBUILD_SCHEDULE_NOW (the time the scheduler's clock starts at: tests).
    schedule_tick_seconds: float = DEFAULT_SCHEDULE_TICK_SECONDS
    schedule_clock_start: datetime | None = None
    # AUTOBUILD_BASE_CHECK_INTERVAL: seconds between looks at base images (worker/basecheck)
    base_check_interval_seconds: float = DEFAULT_BASE_CHECK_INTERVAL_SECONDS
    # AUTOBUILD_STREAM_LIMIT, AUTOBUILD_STREAM_CLIENT_LIMIT, AUTOBUILD_STREAM_SECONDS
    stream_limit: int = DEFAULT_STREAM_LIMIT
    stream_client_limit: int = DEFAULT_STREAM_CLIENT_LIMIT
    stream_seconds: float = DEFAULT_STREAM_SECONDS
    # AUTOBUILD_INSECURE_REGISTRIES: registries (host[:port]) spoken to over plain HTTP besides
    # loopback ones (core/registry_address.plain_http)
    insecure_registries: frozenset[str] = frozenset()
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (read through as given), else from a copy of ``os.environ``.

        Every variable read here is in the table of docs/configuration.md (a test holds them equal).
        """
        env: Mapping[str, str] = dict(os.environ) if environ is None else environ
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
            redis_timeout_seconds=_seconds_from_env(
                env, "AUTOBUILD_REDIS_TIMEOUT", DEFAULT_REDIS_TIMEOUT_SECONDS, minimum=1.0
            ),
            redis_wait_ms=_redis_wait_from_env(env),
            max_queued_per_repository=_int_from_env(
                env,
                "AUTOBUILD_MAX_QUEUED_PER_REPOSITORY",
                default_repository_share(
                    _int_from_env(env, "AUTOBUILD_MAX_QUEUED", DEFAULT_MAX_QUEUED_BUILDS)
                ),
            ),
            private=_bool_from_env(env, "AUTOBUILD_PRIVATE"),
            log_max_lines=_int_from_env(env, "AUTOBUILD_LOG_MAX_LINES", DEFAULT_LOG_MAX_LINES),
            log_max_bytes=_int_from_env(env, "AUTOBUILD_LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES),
            log_retention_days=_int_from_env(
                env, "AUTOBUILD_LOG_RETENTION_DAYS", DEFAULT_LOG_RETENTION_DAYS
            ),
            build_retention_days=_int_from_env(
                env, "AUTOBUILD_BUILD_RETENTION_DAYS", DEFAULT_BUILD_RETENTION_DAYS
            ),
            url=(env.get("AUTOBUILD_URL") or DEFAULT_URL).rstrip("/"),
            api_token=env.get("AUTOBUILD_TOKEN") or env.get("AUTOBUILD_ADMIN_TOKEN") or None,
            max_context_bytes=_int_from_env(
                env, "AUTOBUILD_MAX_CONTEXT_BYTES", DEFAULT_MAX_CONTEXT_BYTES
            ),
            max_export_bytes=_int_from_env(
                env, "AUTOBUILD_MAX_EXPORT_BYTES", DEFAULT_MAX_EXPORT_BYTES
            ),
            prune_threshold_percent=_percent_from_env(
                env, "AUTOBUILD_PRUNE_THRESHOLD_PERCENT", DEFAULT_PRUNE_THRESHOLD_PERCENT
            ),
            prune_min_age_seconds=_int_from_env(
                env, "AUTOBUILD_PRUNE_MIN_AGE", DEFAULT_PRUNE_MIN_AGE_SECONDS
            ),
            heartbeat_seconds=_seconds_from_env(
                env, "AUTOBUILD_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS, minimum=0.1
            ),
            lost_worker_grace_seconds=_seconds_from_env(
                env, "AUTOBUILD_LOST_WORKER_GRACE", DEFAULT_LOST_WORKER_GRACE_SECONDS
            ),
            recovery_interval_seconds=_seconds_from_env(
                env, "AUTOBUILD_RECOVERY_INTERVAL", DEFAULT_RECOVERY_INTERVAL_SECONDS, minimum=0.1
            ),
            retry_backoff_seconds=_backoff_from_env(env, "AUTOBUILD_RETRY_BACKOFF"),
            signing_key=Path(env["AUTOBUILD_SIGNING_KEY"])
            if env.get("AUTOBUILD_SIGNING_KEY")
            else None,
            ssh_known_hosts=Path(env["AUTOBUILD_SSH_KNOWN_HOSTS"])
            if env.get("AUTOBUILD_SSH_KNOWN_HOSTS")
            else None,
            notify_timeout_seconds=_seconds_from_env(
                env, "AUTOBUILD_NOTIFY_TIMEOUT", DEFAULT_NOTIFY_TIMEOUT_SECONDS, minimum=0.1
            ),
            notify_backoff_seconds=_backoff_from_env(
                env, "AUTOBUILD_NOTIFY_BACKOFF", DEFAULT_NOTIFY_BACKOFF_SECONDS
            ),
            schedule_tick_seconds=_seconds_from_env(
                env, "AUTOBUILD_SCHEDULE_TICK", DEFAULT_SCHEDULE_TICK_SECONDS, minimum=0.1
            ),
            schedule_clock_start=_time_from_env(env, "AUTOBUILD_SCHEDULE_NOW"),
            base_check_interval_seconds=_seconds_from_env(
                env, "AUTOBUILD_BASE_CHECK_INTERVAL", DEFAULT_BASE_CHECK_INTERVAL_SECONDS, minimum=1
            ),
            stream_limit=_int_from_env(env, "AUTOBUILD_STREAM_LIMIT", DEFAULT_STREAM_LIMIT),
            stream_client_limit=_int_from_env(
                env, "AUTOBUILD_STREAM_CLIENT_LIMIT", DEFAULT_STREAM_CLIENT_LIMIT
            ),
            stream_seconds=_seconds_from_env(
                env, "AUTOBUILD_STREAM_SECONDS", DEFAULT_STREAM_SECONDS, minimum=0.1
            ),
            insecure_registries=_registry_hosts_from_env(env, "AUTOBUILD_INSECURE_REGISTRIES"),
            environ=MappingProxyType(env),
        )

    @property
    def heartbeat_ttl_seconds(self) -> float:
        """How long a heartbeat lasts: three beats, so one late beat is not a lost worker."""
        return self.heartbeat_seconds * 3

    @property
    def notify_queue_name(self) -> str:
        """The rq queue notifications are sent from (never the build queue)."""
        return f"{self.queue_name}-notify"

    def build_url(self, build_id: str) -> str:
        """A build's page, as notifications link to it: AUTOBUILD_PUBLIC_URL, else AUTOBUILD_URL."""
        return f"{(self.public_url or self.url).rstrip('/')}/builds/{build_id}"

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before the retry that follows attempt ``attempt`` (1, 2, ...)."""
        backoff = self.retry_backoff_seconds or (0.0,)
        return backoff[min(max(attempt, 1), len(backoff)) - 1]

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
