"""``run_build(build_id, attempt)``: the one rq entry point. Drives an attempt at a build through
its phases and records how it ended.

    queued -> cloning -> building -> pushing -> success
                 \\-> failed | error | timed_out  (canceled / superseded come from outside)
                 \\-> queued again (attempt + 1) after an infrastructure failure, while the
                     repository's ``retries`` allow

Every status change is a compare-and-set in the store, on this attempt: when one is refused
(:class:`~core.store.StaleTransitionError`) the build was canceled, superseded or taken over
meanwhile, and the worker stops quietly. While the attempt runs, a :class:`~worker.watch.
BuildWatcher` beats its heartbeat and stops it within a second or two of a cancel (the Docker
build is cut, so the daemon removes the ``RUN`` container), or when the repository's ``timeout``
or ``no_output_timeout`` is reached. Every failure becomes one status and one masked sentence in
``error`` (see :mod:`worker.errors`), and a last line in the build's log.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue

from buildrules.model import Config, Repository, registry_host_of
from core.build import RUNNING_STATUSES, BuildRecord, BuildStatus, utcnow
from core.gitcmd import strip_credentials, url_host
from core.logfmt import build_context as logging_for_build
from core.logs import BuildLog
from core.masking import Masker
from core.queue import build_queue
from core.recovery import requeue_or_end
from core.settings import Settings
from core.store import BuildStore, StaleTransitionError
from worker.attest import Attester, attest_build, read_dockerfile
from worker.cache import warm_layers
from worker.checkout import GitSource, Mirror, checkout_context
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
from worker.errors import BuildStoppedError, BuildTimeoutError, Outcome, WorkerError, classify
from worker.push import DEFAULT_PUSH_READ_TIMEOUT_SECONDS, PushResult, push_all
from worker.registry import RegistryClient, resolve_credentials
from worker.tagorder import TagGuard
from worker.watch import BuildWatcher

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

    def queue(self) -> Queue:
        """The queue retries go back to: this worker's."""
        return build_queue(self.redis, self.settings.queue_name)


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
        self.attempt = record.attempt
        self.log = BuildLog.for_settings(context.redis, record.id, context.masker, context.settings)
        self.deadline: Deadline | None = None
        self.watcher: BuildWatcher | None = None
        self.repository_config: Repository | None = None
        self.activity = "preparing the build"

    # -- helpers -----------------------------------------------------------------------------
    def transition(
        self, status: BuildStatus, expect: Collection[BuildStatus] | None, **fields: Any
    ) -> BuildRecord:
        """A status change of this attempt (refused once another attempt has the build)."""
        self.record = self.context.store.transition(
            self.record.id, status, expect=expect, expect_attempt=self.attempt, **fields
        )
        return self.record

    def output(self, phase: str) -> Callable[[str], None]:
        """Log lines of ``phase``; every line is output for the no-output watchdog."""

        def emit(line: str) -> None:
            if self.deadline is not None:
                self.deadline.touch()
            self.log.append(line, phase=phase)

        return emit

    def checkpoint(self, activity: str) -> Checkpoint:
        """Called between stream chunks: a chunk is output; stop if the build must stop."""
        deadline = self.deadline
        assert deadline is not None

        def check() -> None:
            deadline.touch()
            deadline.check(activity)

        return check

    def check_now(self, activity: str) -> None:
        """Read the record now and stop if the build ended: before each tag is pushed."""
        if self.watcher is not None:
            self.watcher.check(activity)
        elif self.deadline is not None:
            self.deadline.check(activity)

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
        try:  # the build is ours once it leaves `queued` at this attempt
            self.transition(BuildStatus.CLONING, expect={BuildStatus.QUEUED}, started_at=utcnow())
        except StaleTransitionError as taken:
            return taken.record.status.value  # another worker has it, or it ended: not ours
        try:
            repository = self.repository_config = self.repository()
            self.deadline = Deadline(
                repository.timeout_seconds,
                no_output_seconds=repository.no_output_timeout_seconds,
            )
            self.watcher = BuildWatcher(
                self.context.redis,
                self.context.store,
                self.record,
                self.deadline,
                heartbeat_seconds=self.context.settings.heartbeat_seconds,
            )
            self.watcher.start()
            return self._run(repository)
        except (StaleTransitionError, BuildStoppedError) as exc:
            return self.stopped(exc)
        except Exception as exc:
            if self.deadline is not None and self.deadline.stopped:
                return self.stopped(exc)
            expired = self.deadline is not None and self.deadline.expired
            if expired and not isinstance(exc, BuildTimeoutError):
                assert self.deadline is not None  # a stream the watcher cut short at the limit
                exc = self.deadline.error(self.activity)
            return self.fail(classify(exc), exc)
        except BaseException as exc:  # the worker is being shut down under us
            self.fail(
                Outcome(
                    BuildStatus.ERROR,
                    f"The worker stopped during the build ({type(exc).__name__}).",
                    retryable=True,
                ),
                exc,
                delay=0.0,
            )
            raise
        finally:
            if self.watcher is not None:
                self.watcher.close()

    def _run(self, repository: Repository) -> str:
        context, record, deadline = self.context, self.record, self.deadline
        assert deadline is not None
        validate_reference(record.image, record.docker_tags)
        host = registry_host_of(record.image)
        credentials = resolve_credentials(context.config, context.settings, host)

        self.activity = "fetching the commit"
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
                deadline=deadline,
                log=self.output("clone"),
            ) as build_context:
                how = {
                    "present": "already in the mirror",
                    "commit": "fetched",
                    "ref": "fetched with its ref",
                }
                fetched = "Tag object" if build_context.fetch.peeled else "Commit"
                self.log.append(
                    f"{fetched} {source.short} {how[build_context.fetch.method]}", phase="clone"
                )
                if build_context.commit != record.commit:
                    self.log.append(
                        f"Tag {record.source_name} is an annotated tag object {source.short};"
                        f" building its commit {build_context.commit[:7]}",
                        phase="clone",
                    )

                # The record names the commit built (labels, tag order and the API read it).
                self.transition(
                    BuildStatus.BUILDING,
                    expect={BuildStatus.CLONING},
                    commit=build_context.commit,
                )
                record = self.record
                self.activity = "building the image"
                reference = f"{record.image}:{record.docker_tags[0]}"
                self.log.phase(
                    "build",
                    f"Building {reference} from {record.dockerfile} in context {record.context}",
                )
                api = context.docker(
                    DEFAULT_TIMEOUT_SECONDS, registry_credentials(context.settings, context.config)
                )
                if self.watcher is not None and hasattr(api, "abort_streams"):
                    self.watcher.on_abort(api.abort_streams)
                ping(api)
                layer_cache = warm_layers(
                    api,
                    image=record.image,
                    tags=record.docker_tags,
                    build_caching=record.build_caching,
                    own_images=repository.images,
                    credentials=credentials,
                    deadline=deadline,
                    on_line=self.output("build"),
                    checkpoint=self.checkpoint("pulling the layer cache"),
                    registry_timeout=context.registry_timeout,
                )
                request = BuildRequest(
                    context_dir=build_context.directory,
                    dockerfile=build_context.dockerfile,
                    image=record.image,
                    tags=record.docker_tags,
                    labels=self.labels(repository),
                    build_args=dict(record.build_args),
                    limits=limits_for(repository, context.settings.max_context_bytes),
                    cache_from=layer_cache.cache_from,
                    nocache=layer_cache.nocache,
                )
                result = build_image(
                    api,
                    request,
                    deadline,
                    on_line=self.output("build"),
                    checkpoint=self.checkpoint("building the image"),
                )
                dockerfile = read_dockerfile(build_context.directory / build_context.dockerfile)
            self.log.append(f"Built image {result.image_id}", phase="build")

            self.transition(
                BuildStatus.PUSHING, expect={BuildStatus.BUILDING}, image_id=result.image_id
            )
            self.activity = "pushing the image"
            self.log.phase("push", f"Pushing {record.image} ({', '.join(record.docker_tags)})")
            guard = TagGuard(
                context.store,
                record,
                deadline,
                self.watcher,
                self.output("push"),
                lock_ttl_seconds=context.settings.heartbeat_ttl_seconds,
            )
            with RegistryClient(host, credentials, timeout=context.registry_timeout) as registry:
                pushed = push_all(
                    api,
                    record.image,
                    image_path(record.image),
                    registry,
                    record.docker_tags,
                    credentials,
                    deadline,
                    on_line=self.output("push"),
                    checkpoint=self.checkpoint("pushing the image"),
                    read_timeout=context.push_read_timeout,
                    before_tag=lambda reference: self.check_now(f"pushing {reference}"),
                    guard=guard,
                )
                if pushed.digest is not None:  # provenance and signatures: worker/attest.py
                    attest_build(
                        Attester.create(
                            context.settings, context.config, context.masker, context.redis
                        ),
                        registry,
                        api,
                        self.record,
                        repository,
                        pushed.digest,
                        dockerfile,
                        self.output("push"),
                    )
        finally:
            if api is not None:
                api.close()  # also drops a build still streaming: the daemon then aborts it
        return self.finish(pushed, result.image_id)

    def finish(self, pushed: PushResult, image_id: str) -> str:
        record = self.record
        skipped = ", ".join(pushed.skipped)
        if pushed.digest is None:
            message = (
                f"Nothing was pushed: builds of newer commits of {record.source_name} had"
                f" already pushed {skipped}."
            )
            self.log.append(f"Build superseded: {message}")
            self.transition(
                BuildStatus.SUPERSEDED,
                expect={BuildStatus.PUSHING},
                error=message,
                skipped_tags=pushed.skipped,
            )
            return BuildStatus.SUPERSEDED.value
        note = f"; skipped {skipped} (newer commits' builds had pushed them)" if skipped else ""
        self.log.append(
            f"Build succeeded: {record.image} ({', '.join(pushed.tags)}) is {pushed.digest}{note}"
        )
        self.transition(
            BuildStatus.SUCCESS,
            expect={BuildStatus.PUSHING},
            digest=pushed.digest,
            image_id=image_id,
            error=None,
            skipped_tags=pushed.skipped,
        )
        return BuildStatus.SUCCESS.value

    def labels(self, repository: Repository) -> dict[str, str]:
        return {
            LABEL_SOURCE: strip_credentials(repository.clone_url),
            LABEL_REVISION: self.record.commit,
            LABEL_CREATED: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            LABEL_BUILD_ID: self.record.id,
        }

    def stopped(self, exc: BaseException) -> str:
        """The build ended from outside (canceled, superseded, queued again as another attempt):
        say so in the log and leave the record alone."""
        current = self.context.store.get(self.record.id)
        if current is None:
            return "missing"
        if current.attempt != self.attempt:
            self.log.append(
                f"Attempt {self.attempt} stopped while {self.activity}: the build was queued"
                f" again as attempt {current.attempt}"
            )
        else:
            self.log.append(
                f"Build stopped while {self.activity}: it is now {current.status.value}"
            )
        logger.info("build %s: stopped (%s)", self.record.id, exc)
        return current.status.value

    def fail(self, outcome: Outcome, exc: BaseException, delay: float | None = None) -> str:
        """Record how the attempt ended (masked): queued again for an infrastructure failure
        with attempts left, else a terminal failure; unless the build already ended otherwise."""
        message = self.context.masker.mask(outcome.message)
        if not isinstance(exc, WorkerError):
            details = "".join(traceback.format_exception(exc))
            logger.error(
                "build %s: unexpected failure\n%s",
                self.record.id,
                self.context.masker.mask(details),
            )
        current = self.context.store.get(self.record.id)
        if current is None or current.status.terminal or current.attempt != self.attempt:
            return current.status.value if current else "missing"  # its story is told elsewhere
        if outcome.retryable and self.repository_config is not None:
            if delay is None:
                delay = self.context.settings.retry_delay(self.attempt)
            result = requeue_or_end(
                self.context.store,
                self.context.queue(),
                self.repository_config,
                current,
                message,
                delay=delay,
                log=self.log,
            )
            return result.record.status.value if result else self.current_status()
        # The line goes first: a reader following the log stops once the status is terminal.
        self.log.append(f"{FAILURE_WORDS.get(outcome.status, 'Build ended')}: {message}")
        try:
            self.transition(outcome.status, expect=None, error=message)
        except StaleTransitionError as stale:
            return stale.record.status.value
        return outcome.status.value

    def current_status(self) -> str:
        current = self.context.store.get(self.record.id)
        return current.status.value if current else "missing"


def execute_build(context: WorkerContext, build_id: str, attempt: int | None = None) -> str:
    """Run attempt ``attempt`` (default: the current one) of the build ``build_id`` and return
    the status it left the build in.

    A build that is missing, has already ended (canceled or superseded while queued), is not
    queued, or has moved on to another attempt (a stale job) is left alone."""
    record = context.store.get(build_id)
    if record is None:
        logger.warning("build %s: no such build record; nothing to do", build_id)
        return "missing"
    if record.status.terminal:
        return record.status.value
    if attempt is not None and record.attempt != attempt:
        logger.warning(
            "build %s: job for attempt %d, but the build is at attempt %d; nothing to do",
            build_id,
            attempt,
            record.attempt,
        )
        return record.status.value
    if record.status is not BuildStatus.QUEUED:
        logger.warning("build %s: already %s; nothing to do", build_id, record.status.value)
        return record.status.value
    return BuildRun(context, record).execute()


def record_lost_build(
    context: WorkerContext, build_id: str, reason: str, attempt: int | None = None
) -> bool:
    """A build whose worker process died under it: queued again while it has attempts left,
    else ended ``error``. False if it had ended (or moved on to another attempt)."""
    record = context.store.get(build_id)
    if record is None or record.status.terminal:
        return False
    if attempt is not None and record.attempt != attempt:
        return False
    repository = context.config.find_repository(record.provider, record.repository)
    result = requeue_or_end(
        context.store,
        context.queue(),
        repository,
        record,
        context.masker.mask(reason),
        expect=RUNNING_STATUSES | {BuildStatus.QUEUED},
        log=BuildLog.for_settings(context.redis, build_id, context.masker, context.settings),
    )
    return result is not None


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


def run_build(build_id: str, attempt: int | None = None) -> str:
    """The rq job (``worker.jobs.run_build``, JSON-serialised arguments: the build id and the
    attempt the job is for). Every log line of the job carries the build id; after the build, the
    Docker data directory is pruned if it passes its threshold (worker.containment)."""
    context = get_context()
    with logging_for_build(build_id):
        status = execute_build(context, build_id, attempt)
        logger.info("build attempt ended", extra={"event": "build_finished", "status": status})
        housekeeping(context.docker, context.settings, context.redis)
    return status
