"""The limits on one build attempt, checked by every phase: a wall clock, a no-output watchdog, and
a stop from outside (cancel, supersede, another attempt taking over).

A :class:`Deadline` is checked between stream chunks and bounds every subprocess and socket read
(its :meth:`Deadline.remaining` is the timeout), so a silent ``RUN`` step or a stalled fetch cannot
outlive it. ``remaining`` is the nearer of the two limits: the wall clock (the repository's
``timeout``) and the no-output watchdog (``no_output_timeout``: how long the build may go without
a line or a stream chunk; :meth:`Deadline.touch` records output). The build's watcher thread
(:mod:`worker.watch`) calls :meth:`Deadline.stop` when the build ends from outside, and aborts
what is blocking; every later check then raises the stop's error. rq's job timeout (the
repository's timeout plus a grace) is only the backstop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from worker.errors import BuildTimeoutError

Checkpoint = Callable[[], None]
"""Called between units of work (stream chunks, git commands); raises to stop the build."""

StopError = Callable[[str], Exception]
"""Makes the exception a stopped build raises, given what it was doing."""

TIMEOUT_LIMIT = "the repository's timeout"
BACKSTOP_SLACK_SECONDS = 2.0
NO_OUTPUT_LIMIT = "the repository's no_output_timeout"


def describe_seconds(seconds: float) -> str:
    """``3600`` -> ``"60 minutes"``, ``90`` -> ``"90 seconds"``, ``7200`` -> ``"2 hours"``."""
    whole = round(seconds)
    if whole >= 7200 and whole % 3600 == 0:
        return f"{whole // 3600} hours"
    if whole >= 120 and whole % 60 == 0:
        return f"{whole // 60} minutes"
    return f"{whole} second" + ("" if whole == 1 else "s")


class Deadline:
    """A point in time (monotonic clock) after which the build is over, a watchdog on output,
    and an optional stop from outside."""

    def __init__(
        self,
        seconds: float,
        limit: str = TIMEOUT_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        *,
        no_output_seconds: float | None = None,
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self.no_output_seconds = no_output_seconds
        self._clock = clock
        self._end = clock() + seconds
        self._last_output = clock()
        self._stop: StopError | None = None

    # -- output and stops --------------------------------------------------------------------
    def touch(self) -> None:
        """The build produced output (a line, a stream chunk): the watchdog starts over."""
        self._last_output = self._clock()

    def stop(self, error: StopError) -> None:
        """End the build from outside; the first stop wins. Safe from another thread."""
        if self._stop is None:
            self._stop = error

    @property
    def stopped(self) -> bool:
        return self._stop is not None

    # -- time --------------------------------------------------------------------------------
    def _silence_left(self, now: float) -> float | None:
        if self.no_output_seconds is None:
            return None
        return self._last_output + self.no_output_seconds - now

    def remaining(self) -> float:
        if self._stop is not None:
            return 0.0
        now = self._clock()
        left = self._end - now
        silence = self._silence_left(now)
        if silence is not None:
            left = min(left, silence)
        return max(0.0, left)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def timeout(self, cap: float | None = None, minimum: float = 1.0) -> float:
        """A timeout for one blocking call: what is left (at least ``minimum``), at most ``cap``."""
        left = max(minimum, self.remaining())
        return min(left, cap) if cap is not None else left

    def backstop(self, cap: float | None = None) -> float:
        """A timeout for a blocking call that this deadline also ends by itself (the watcher
        cuts a stream, a polled ``stop`` kills a git command): a little past what is left, so
        when it fires the deadline has passed and :meth:`error` names the limit."""
        slack = BACKSTOP_SLACK_SECONDS
        if cap is not None and cap < self.remaining():
            return self.timeout(cap)
        return self.timeout() + slack

    def error(self, activity: str) -> Exception:
        """Why the build is over: the stop's error, the no-output watchdog, or the wall clock."""
        if self._stop is not None:
            return self._stop(activity)
        now = self._clock()
        silence = self._silence_left(now)
        if silence is not None and silence <= 0 and now < self._end:
            assert self.no_output_seconds is not None
            return BuildTimeoutError(
                f"The build was stopped while {activity}: {NO_OUTPUT_LIMIT} of "
                f"{describe_seconds(self.no_output_seconds)} was reached (no output for that long)",
                limit=NO_OUTPUT_LIMIT,
            )
        return BuildTimeoutError(
            f"The build was stopped while {activity}: "
            f"{self.limit} of {describe_seconds(self.seconds)} was reached",
            limit=self.limit,
        )

    def check(self, activity: str = "running") -> None:
        if self.expired:
            raise self.error(activity)

    def checkpoint(self, activity: str) -> Checkpoint:
        """A :data:`Checkpoint` that raises once the deadline has passed."""
        return lambda: self.check(activity)
