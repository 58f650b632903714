"""``run_build(build_id)``: the one rq entry point. Drives a build through its phases and records
how it ended.

    queued -> cloning -> building -> pushing -> success
                 \\-> failed | error | timed_out  (canceled / superseded come from outside)

Every status change is a compare-and-set in the store: when one is refused
(:class:`~core.store.StaleTransitionError`) the build was canceled or superseded meanwhile, and
the worker stops quietly. Every failure becomes one terminal status and one masked sentence in
``error`` (see :mod:`worker.errors`), and a last line in the build's log.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis

from buildrules.model import Config, Repository, registry_host_of
from core.build import BuildRecord, BuildStatus
from core.logfmt import build_context as logging_for_build
from core.logs import BuildLog
from core.masking import Masker
from core.settings import Settings
from core.store import BuildStore, StaleTransitionError
from worker.checkout import GitSource, Mirror, checkout_context, strip_credentials, url_host
from worker.containment import housekeeping, limits_for
from worker.deadline import Checkpoint, Deadline
from worker.docker_build import (
    LABEL_BUILD_ID,
    LABEL_CREATED,
    LABEL_REVISION,
    LABEL_SOURCE,
    BuildRequest,
    build_image,
    validate_reference,
)
from worker.docker_client import DEFAULT_TIMEOUT_SECONDS, DockerFactory, docker_factory, ping
from worker.errors import Outcome, WorkerError, classify
from worker.push import DEFAULT_PUSH_READ_TIMEOUT_SECONDS, push_all
from worker.registry import RegistryClient, resolve_credentials

logger = logging.getLogger(__name__)

FAILURE_WORDS = {
    BuildStatus.FAILED: "Build failed",
    BuildStatus.ERROR: "Build error",
    BuildStatus.TIMED_OUT: "Build timed out",
}


@dataclass(frozen=True)
class WorkerContext:
    """Everything a build needs from its process: made once per worker, shared by its builds."""

    settings: Settings
    config: Config
    redis: Redis
    store: BuildStore
    masker: Masker
    docker: DockerFactory
    push_read_timeout: float = DEFAULT_PUSH_READ_TIMEOUT_SECONDS
    registry_timeout: float = 30.0
    git_config: tuple[tuple[str, str], ...] = field(default=())  # extra `git -c` pairs

    @classmethod
    def create(
        cls,
        settings: Settings,
        config: Config,
        connection: Redis | None = None,
        **options: Any,
    ) -> WorkerContext:
        connection = connection or Redis.from_url(settings.redis_url)
        return cls(
            settings=settings,
            config=config,
            redis=connection,
            store=BuildStore(connection),
            masker=masker_for(settings, config),
            docker=options.pop("docker", None) or docker_factory(settings.environ),
            **options,
        )

    @property
    def scratch_dir(self) -> Path:
        return self.settings.workdir / "contexts"


def masker_for(settings: Settings, config: Config) -> Masker:
    """A masker for every secret value the configuration names (and the admin token)."""
    values = [settings.secret(name) for name in config.secret_env_names()]
    values.append(settings.admin_token)
    return Masker(value for value in values if value)


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


def image_path(image: str) -> str:
    host = registry_host_of(image)
    return image[len(host) + 1 :] if image.startswith(host + "/") else image


class BuildRun:
    """One attempt at one build record."""

    def __init__(self, context: WorkerContext, record: BuildRecord) -> None:
        self.context = context
        self.record = record
        self.log = BuildLog(context.redis, record.id, context.masker)
        self.deadline: Deadline | None = None

    # -- helpers -----------------------------------------------------------------------------
    def transition(
        self, status: BuildStatus, expect: Collection[BuildStatus] | None, **fields: Any
    ) -> BuildRecord:
        self.record = self.context.store.transition(self.record.id, status, expect=expect, **fields)
        return self.record

    def checkpoint(self, activity: str) -> Checkpoint:
        """Called between stream chunks; the place for further stop conditions (cancel)."""
        deadline = self.deadline
        assert deadline is not None
        return deadline.checkpoint(activity)

    def repository(self) -> Repository:
        repository = self.context.config.find_repository(
            self.record.provider, self.record.repository
        )
        if repository is None:
            raise WorkerError(
                f"Repository {self.record.provider}/{self.record.repository}"
                " is not in this worker's configuration"
            )
        return repository

    # -- the build ---------------------------------------------------------------------------
    def execute(self) -> str:
        try:
            self._run()
            return BuildStatus.SUCCESS.value
        except StaleTransitionError as exc:
            current = exc.record.status.value
            self.log.append(f"Build stopped: it is now {current}")
            return current
        except Exception as exc:
            return self.fail(classify(exc), exc)
        except BaseException as exc:  # the worker is being shut down under us
            self.fail(
                Outcome(
                    BuildStatus.ERROR,
                    f"The worker stopped during the build ({type(exc).__name__}).",
                ),
                exc,
            )
            raise

    def _run(self) -> None:
        context, record = self.context, self.record
        repository = self.repository()
        self.deadline = Deadline(repository.timeout_seconds)
        validate_reference(record.image, record.docker_tags)
        host = registry_host_of(record.image)
        credentials = resolve_credentials(context.config, context.settings, host)

        self.transition(BuildStatus.CLONING, expect={BuildStatus.QUEUED})
        source = GitSource(
            repository.clone_url, record.commit, record.source_type, record.source_name
        )
        self.log.phase(
            "clone",
            f"Fetching commit {source.short} ({record.source_type.value} {record.source_name})"
            f" from {url_host(source.clone_url)}",
        )
        mirror = Mirror.for_repository(
            context.settings.workdir,
            repository.provider,
            repository.name,
            repository.clone_url,
            context.settings.environ,
            context.git_config,
        )
        api = None
        try:
            with checkout_context(
                mirror,
                source,
                context=record.context,
                dockerfile=record.dockerfile,
                scratch_dir=context.scratch_dir,
                deadline=self.deadline,
                log=lambda line: self.log.append(line, phase="clone"),
            ) as build_context:
                how = {
                    "present": "already in the mirror",
                    "commit": "fetched",
                    "ref": "fetched with its ref",
                }
                self.log.append(
                    f"Commit {source.short} {how[build_context.fetch.method]}", phase="clone"
                )

                self.transition(BuildStatus.BUILDING, expect={BuildStatus.CLONING})
                reference = f"{record.image}:{record.docker_tags[0]}"
                self.log.phase(
                    "build",
                    f"Building {reference} from {record.dockerfile} in context {record.context}",
                )
                api = context.docker(
                    DEFAULT_TIMEOUT_SECONDS, registry_credentials(context.settings, context.config)
                )
                ping(api)
                request = BuildRequest(
                    context_dir=build_context.directory,
                    dockerfile=build_context.dockerfile,
                    image=record.image,
                    tags=record.docker_tags,
                    labels=self.labels(repository),
                    build_args=dict(record.build_args),
                    limits=limits_for(repository, context.settings.max_context_bytes),
                )
                result = build_image(
                    api,
                    request,
                    self.deadline,
                    on_line=lambda line: self.log.append(line, phase="build"),
                    checkpoint=self.checkpoint("building the image"),
                )
            self.log.append(f"Built image {result.image_id}", phase="build")

            self.transition(
                BuildStatus.PUSHING, expect={BuildStatus.BUILDING}, image_id=result.image_id
            )
            tags = ", ".join(record.docker_tags)
            self.log.phase("push", f"Pushing {record.image} ({tags})")
            with RegistryClient(host, credentials, timeout=context.registry_timeout) as registry:
                pushed = push_all(
                    api,
                    record.image,
                    image_path(record.image),
                    registry,
                    record.docker_tags,
                    credentials,
                    self.deadline,
                    on_line=lambda line: self.log.append(line, phase="push"),
                    checkpoint=self.checkpoint("pushing the image"),
                    read_timeout=context.push_read_timeout,
                )
        finally:
            if api is not None:
                api.close()  # also drops a build still streaming: the daemon then aborts it
        self.log.append(f"Build succeeded: {record.image} ({tags}) is {pushed.digest}")
        self.transition(
            BuildStatus.SUCCESS,
            expect={BuildStatus.PUSHING},
            digest=pushed.digest,
            image_id=result.image_id,
            error=None,
        )

    def labels(self, repository: Repository) -> dict[str, str]:
        return {
            LABEL_SOURCE: strip_credentials(repository.clone_url),
            LABEL_REVISION: self.record.commit,
            LABEL_CREATED: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            LABEL_BUILD_ID: self.record.id,
        }

    def fail(self, outcome: Outcome, exc: BaseException) -> str:
        """Record a terminal failure (masked), unless the build already ended otherwise."""
        message = self.context.masker.mask(outcome.message)
        if not isinstance(exc, WorkerError):
            details = "".join(traceback.format_exception(exc))
            logger.error(
                "build %s: unexpected failure\n%s",
                self.record.id,
                self.context.masker.mask(details),
            )
        current = self.context.store.get(self.record.id)
        if current is not None and current.status.terminal:
            return current.status.value  # canceled or superseded meanwhile: that is the story
        # The line goes first: a reader following the log stops once the status is terminal.
        self.log.append(f"{FAILURE_WORDS.get(outcome.status, 'Build ended')}: {message}")
        try:
            self.transition(outcome.status, expect=None, error=message)
        except StaleTransitionError as stale:
            return stale.record.status.value
        return outcome.status.value


def execute_build(context: WorkerContext, build_id: str) -> str:
    """Run the build ``build_id`` to a terminal status and return that status.

    A build that is missing or has already ended (canceled or superseded while queued) is left
    alone."""
    record = context.store.get(build_id)
    if record is None:
        logger.warning("build %s: no such build record; nothing to do", build_id)
        return "missing"
    if record.status.terminal:
        return record.status.value
    return BuildRun(context, record).execute()


def record_lost_build(context: WorkerContext, build_id: str, reason: str) -> bool:
    """End a build whose worker process died under it (``error``); False if it had ended."""
    message = context.masker.mask(reason)
    try:
        context.store.transition(build_id, BuildStatus.ERROR, error=message)
    except StaleTransitionError:
        return False
    BuildLog(context.redis, build_id, context.masker).append(f"Build error: {message}")
    return True


# -- the process-wide context ------------------------------------------------------------------

_context: WorkerContext | None = None


def set_context(context: WorkerContext | None) -> None:
    """Install the context ``run_build`` uses (the worker command does this once, before rq forks
    its work horses, so every build shares the loaded configuration)."""
    global _context
    _context = context


def get_context() -> WorkerContext:
    """The installed context, or one made from the environment and the configuration file."""
    global _context
    if _context is None:
        from buildrules.loader import load  # the loader is only needed by the outer entry point

        settings = Settings.from_env()
        _context = WorkerContext.create(settings, load(settings.config_path))
    return _context


def run_build(build_id: str) -> str:
    """The rq job (``worker.jobs.run_build``, JSON-serialised argument: the build id). Every log
    line of the job carries the build id; after the build, the Docker data directory is pruned if
    it passes its threshold (worker.containment)."""
    context = get_context()
    with logging_for_build(build_id):
        status = execute_build(context, build_id)
        logger.info("build attempt ended", extra={"event": "build_finished", "status": status})
        housekeeping(context.docker, context.settings, context.redis)
    return status
