"""``run_build(build_id, attempt)``: the one rq entry point. Drives an attempt at a build through
its phases (:mod:`worker.phases`: clone, build, push, verify) and records how it ended.

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
The loop owns status changes, deadlines and error classification; the phases own their work.
The record keeps each phase (``phases``) and the reported ``progress``: see docs/builds.md.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Collection, Sequence
from typing import Any

from buildrules.model import Repository
from core.build import RUNNING_STATUSES, BuildRecord, BuildStatus, utcnow
from core.logfmt import build_context as logging_for_build
from core.logs import BuildLog
from core.masking import build_masker_for
from core.progress import PhaseStatus, Progress
from core.recovery import requeue_or_end
from core.settings import Settings
from core.store import StaleTransitionError
from worker.containment import housekeeping
from worker.context import WorkerContext
from worker.deadline import Deadline
from worker.errors import BuildStoppedError, BuildTimeoutError, Outcome, WorkerError, classify
from worker.fence import LeaseLostError
from worker.phases import plan
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, PhaseRecorder, Results
from worker.phases.verify import Verdict, unpushed_verdict
from worker.progress import RecordProgress
from worker.watch import BuildWatcher

logger = logging.getLogger(__name__)

FAILURE_WORDS = {
    BuildStatus.FAILED: "Build failed",
    BuildStatus.ERROR: "Build error",
    BuildStatus.TIMED_OUT: "Build timed out",
}


class BuildRun:
    """One attempt at one build record: the loop over its phases (:mod:`worker.phases`)."""

    def __init__(self, context: WorkerContext, record: BuildRecord) -> None:
        self.context = context
        self.record = record
        self.attempt = record.attempt
        # The build's log and error hide its own repository's secrets only (an oracle otherwise);
        # the process's log keeps the full masker (context.masker).
        self.masker = build_masker_for(
            context.settings, context.config, record.provider, record.repository
        )
        self.log = BuildLog.for_settings(context.redis, record.id, self.masker, context.settings)
        self.deadline: Deadline | None = None
        self.watcher: BuildWatcher | None = None
        self.repository_config: Repository | None = None
        self.activity = "preparing the build"
        self.recorder = PhaseRecorder(context.store, record.id, record.attempt)
        self.plan: Sequence[Phase[Any, PhaseOutput]] = ()
        self.pending: dict[str, Any] = {}  # phase outputs' fields, written with the next status

    def transition(
        self, status: BuildStatus, expect: Collection[BuildStatus] | None, **fields: Any
    ) -> BuildRecord:
        """A status change of this attempt (refused once another attempt has the build)."""
        self.record = self.context.store.transition(
            self.record.id, status, expect=expect, expect_attempt=self.attempt, **fields
        )
        return self.record

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
        try:  # the build is ours once it leaves `queued` at this attempt; it starts afresh
            self.transition(
                BuildStatus.CLONING,
                expect={BuildStatus.QUEUED},
                started_at=utcnow(),
                phases=(),
                progress=Progress(),
                worker=self.context.identity,
            )
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
            return self._run(repository, self.deadline)
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

    def _run(self, repository: Repository, deadline: Deadline) -> str:
        """Every phase in order; their resources are released before the end is recorded."""
        context = self.context
        env = PhaseEnv(
            context=context,
            repository=repository,
            deadline=deadline,
            watcher=self.watcher,
            log=self.log,
            progress=RecordProgress(context.store, self.record.id, self.attempt),
            current=lambda: self.record,
        )
        self.plan = plan(repository)
        results = Results()
        with env.resources:
            for phase in self.plan:
                self.run_phase(phase, env, results)
        return self.finish(results.find(Verdict) or unpushed_verdict(self.record.image, results))

    def run_phase(self, phase: Phase[Any, PhaseOutput], env: PhaseEnv, results: Results) -> None:
        """One phase: skipped if not wanted; else the build's status for it (with the fields
        the phases before asked for), then its record's start, its work and its end."""
        if not phase.wanted(env, results):
            self.recorder.skip([phase.name])
            return
        self.activity = phase.activity
        if phase.status is not None and phase.status is not self.record.status:
            self.transition(phase.status, expect={self.record.status}, **self.pending)
            self.pending = {}
        self.recorder.start(phase.name)
        output = phase.run(env, phase.prepare(env, results))
        self.recorder.end(PhaseStatus.SUCCESS)
        results.add(output)
        self.pending.update(output.record_fields())

    def finish(self, verdict: Verdict) -> str:
        """The end the phases came to (the log line first: a follower stops at the status)."""
        self.log.append(verdict.line)
        self.transition(
            verdict.status, expect={self.record.status}, **{**self.pending, **verdict.fields}
        )
        return verdict.status.value

    def close_phases(self, status: PhaseStatus) -> None:
        """The attempt ended early: the running phase ends ``status``, the rest are skipped."""
        recorded = {phase.name for phase in self.recorder.phases}
        rest = [phase.name for phase in self.plan if phase.name not in recorded]
        self.recorder.close(status, rest)

    def stopped(self, exc: BaseException) -> str:
        """The build ended from outside (canceled, superseded, queued again as another attempt):
        say so in the log and leave the record alone."""
        current = self.context.store.get(self.record.id)
        if current is None:
            return "missing"
        lost = isinstance(exc, LeaseLostError) and current.attempt == self.attempt
        if lost and current.status.running:
            # Its lease went unconfirmed (Redis away) and nobody took the build over (yet): it
            # is queued again now rather than found lost later.
            return self.fail(Outcome(BuildStatus.ERROR, str(exc), True), WorkerError(str(exc)))
        self.close_phases(PhaseStatus.CANCELED)  # a no-op once another attempt has the build
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
        message = self.masker.mask(outcome.message)
        if not isinstance(exc, WorkerError):
            details = "".join(traceback.format_exception(exc))
            logger.error(
                "build %s: unexpected failure\n%s",
                self.record.id,
                self.context.masker.mask(details),
            )
        current = self.context.store.get(self.record.id)
        if current is None or current.attempt != self.attempt:
            return current.status.value if current else "missing"  # its story is told elsewhere
        if current.status.terminal:  # ended from outside meanwhile (canceled, superseded)
            self.close_phases(PhaseStatus.CANCELED)
            return current.status.value
        self.close_phases(PhaseStatus.FAILED)
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
    masker = build_masker_for(context.settings, context.config, record.provider, record.repository)
    result = requeue_or_end(
        context.store,
        context.queue(),
        repository,
        record,
        masker.mask(reason),
        expect=RUNNING_STATUSES | {BuildStatus.QUEUED},
        log=BuildLog.for_settings(context.redis, build_id, masker, context.settings),
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
