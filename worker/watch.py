"""The thread beside a running build: heartbeats, cancels, time limits.

While a build attempt runs, its :class:`BuildWatcher`

- refreshes the build's heartbeat (``heartbeat_key``, a lease of three beats) and the leases the
  build holds (the tag it is pushing), every ``heartbeat_seconds``. A worker killed with SIGKILL
  stops beating; the other workers then queue the build again or end it (:mod:`core.recovery`).
  A beat never takes the lease of a newer attempt (:func:`worker.fence.beat`): a worker that
  finds its build taken over stops it;
- stops the build when Redis has not confirmed its lease for two beats (a host cut off from
  Redis): a beat before the lease can expire and another worker take the build over, every
  stream it has open (a push) is cut. :meth:`fence`, before each push, asks Redis again;
- reads the build record every second. When it has ended from outside (canceled, superseded) or
  another attempt took it over, it stops the build's :class:`~worker.deadline.Deadline` and aborts
  what the build is blocked on: the Docker stream is cut (the daemon then kills and removes the
  ``RUN`` container, or drops the push) and a running git command is killed within half a
  second. A silent ``RUN`` step therefore cannot delay a cancel;
- does the same when the deadline passes (the wall clock or the no-output watchdog), in case a
  blocking call's own timeout is longer.

The build's own thread notices at its next check and ends quietly: the status is already
recorded. The watcher never changes the record.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis

from core.build import BuildRecord, BuildStatus
from core.store import BuildStore, heartbeat_key
from worker import fence, leases
from worker.deadline import Deadline
from worker.errors import BuildStoppedError
from worker.fence import Beat, Lease, LeaseLostError

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the record is read: a cancel is seen within about a second


class BuildWatcher:
    def __init__(
        self,
        connection: redis.Redis,
        store: BuildStore,
        record: BuildRecord,
        deadline: Deadline,
        *,
        heartbeat_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.connection = connection
        self.store = store
        self.build_id = record.id
        self.attempt = record.attempt
        self.deadline = deadline
        self.heartbeat_seconds = heartbeat_seconds
        self.ttl_seconds = heartbeat_seconds * 3
        self.poll_seconds = min(poll_seconds, heartbeat_seconds)
        self.token = f"{record.attempt}:{socket.gethostname()}:{os.getpid()}"
        self._held: dict[str, str] = {}
        self._aborts: list[Callable[[], None]] = []
        self._aborted = False
        self._lost = False  # the lease is (or may be) someone else's: no more beats
        self._confirmed = time.monotonic()  # when the last beat that Redis confirmed was sent
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name=f"watch-{record.id[:8]}", daemon=True
        )
        self._clock = threading.Thread(
            target=self._lease_clock, name=f"lease-{record.id[:8]}", daemon=True
        )

    @property
    def unconfirmed_limit(self) -> float:
        """How long the lease may go unconfirmed before the build stops: two beats, one beat
        before it can expire in Redis (it expires three beats after the last beat was sent)."""
        return self.ttl_seconds - self.heartbeat_seconds

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Beat once now (the build is alive from its first second), then keep watching."""
        self.beat()
        self._thread.start()
        self._clock.start()

    def close(self) -> None:
        """Stop watching and drop the heartbeat (if it is still this attempt's)."""
        self._done.set()
        for thread in (self._thread, self._clock):
            if thread.is_alive():
                thread.join(timeout=10)
        try:
            leases.release(self.connection, heartbeat_key(self.build_id), self.token)
        except redis.RedisError:
            logger.warning("build %s: could not drop its heartbeat", self.build_id)

    def __enter__(self) -> BuildWatcher:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- heartbeats and leases ---------------------------------------------------------------
    def beat(self) -> None:
        """Refresh the heartbeat (and the held leases) while the build is this attempt's;
        stop the build when it is not."""
        if self._lost:
            return
        sent = time.monotonic()
        answer = fence.beat(
            self.connection, self.build_id, self.attempt, self.token, self.ttl_seconds
        )
        if answer is Beat.MOVED_ON:
            self.poll()  # the record says how: ended, deleted or queued again
            self._lose("the build was taken over or ended")
            return
        if answer is Beat.TAKEN:
            self._lose("its heartbeat lease is held by another worker")
            return
        self._confirmed = sent
        with self._lock:
            held = list(self._held.items())
        for key, token in held:
            leases.renew(self.connection, key, token, self.ttl_seconds)

    def hold(self, key: str, token: str) -> None:
        """Renew the lease ``key`` with every heartbeat until :meth:`let_go`."""
        with self._lock:
            self._held[key] = token

    def let_go(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)

    # -- stopping ----------------------------------------------------------------------------
    def on_abort(self, abort: Callable[[], None]) -> None:
        """Call ``abort`` (from this thread) when the build must stop; at once if it must
        already."""
        with self._lock:
            self._aborts.append(abort)
            aborted = self._aborted
        if aborted:
            self._call(abort)

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            aborts = list(self._aborts)
        for abort in aborts:
            self._call(abort)

    def _call(self, abort: Callable[[], None]) -> None:
        try:
            abort()
        except Exception:
            logger.exception("build %s: aborting failed", self.build_id)

    def _lose(self, reason: str) -> None:
        """The build is not (or may no longer be) this attempt's: stop it, cut its streams and
        beat no more."""
        self._lost = True
        self.deadline.stop(lambda activity: LeaseLostError(reason, activity, before=False))
        self.abort()

    def poll(self) -> None:
        """Read the record; stop the build if it ended or another attempt has it."""
        record = self.store.get(self.build_id)
        if record is None:
            reason = "deleted"
        elif record.attempt != self.attempt:
            reason = f"queued again as attempt {record.attempt}"
        elif record.status.terminal or record.status is BuildStatus.QUEUED:
            reason = record.status.value
        else:
            return
        self.deadline.stop(lambda activity: BuildStoppedError(reason, activity))
        self.abort()

    def fence(self, activity: str, held: tuple[Lease, ...] = ()) -> None:
        """Return only when Redis confirms now that this attempt holds the build, its heartbeat
        and ``held`` (the tag lock): just before a push. Raises otherwise (worker.fence)."""
        self.deadline.check(activity)
        fence.confirm(self.connection, self.build_id, self.attempt, self.token, activity, held)

    # -- the thread --------------------------------------------------------------------------
    def _watch(self) -> None:
        next_beat = time.monotonic() + self.heartbeat_seconds
        while not self._done.wait(self.poll_seconds):
            try:
                if not self.deadline.stopped:
                    self.poll()
                if time.monotonic() >= next_beat:
                    self.beat()
                    next_beat = time.monotonic() + self.heartbeat_seconds
            except redis.RedisError as error:
                logger.warning(
                    "build %s: Redis unreachable from the watcher: %s", self.build_id, error
                )
            if self.deadline.expired and not self._aborted:
                self.abort()

    def _lease_clock(self) -> None:
        """Stop the build once its lease went unconfirmed too long. A thread of its own: the
        watcher's thread may be stuck in a Redis call for ``AUTOBUILD_REDIS_TIMEOUT``."""
        while not self._done.wait(self.poll_seconds / 2):
            silent = time.monotonic() - self._confirmed
            if not self._lost and silent > self.unconfirmed_limit:
                logger.warning(
                    "build %s: Redis has not confirmed its lease for %.1f s; stopping it",
                    self.build_id,
                    silent,
                )
                self._lose(
                    f"Redis had not confirmed its heartbeat lease for {silent:.0f} seconds, so"
                    " another worker may take the build over"
                )
