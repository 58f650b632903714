"""Wall-clock limits on a build, checked by every phase.

A :class:`Deadline` is checked between stream chunks and bounds every subprocess and socket read
(its :meth:`Deadline.remaining` is the timeout), so a silent ``RUN`` step or a stalled fetch
cannot outlive it. rq's job timeout (the repository's timeout plus a grace) is only the backstop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from worker.errors import BuildTimeoutError

Checkpoint = Callable[[], None]
"""Called between units of work (stream chunks, git commands); raises to stop the build."""


def describe_seconds(seconds: float) -> str:
    """``3600`` -> ``"60 minutes"``, ``90`` -> ``"90 seconds"``, ``7200`` -> ``"2 hours"``."""
    whole = round(seconds)
    if whole >= 7200 and whole % 3600 == 0:
        return f"{whole // 3600} hours"
    if whole >= 120 and whole % 60 == 0:
        return f"{whole // 60} minutes"
    return f"{whole} second" + ("" if whole == 1 else "s")


class Deadline:
    """A point in time (monotonic clock) after which the build is over."""

    def __init__(
        self,
        seconds: float,
        limit: str = "the repository's timeout",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._end

    def timeout(self, cap: float | None = None, minimum: float = 1.0) -> float:
        """A timeout for one blocking call: what is left (at least ``minimum``), at most ``cap``."""
        left = max(minimum, self.remaining())
        return min(left, cap) if cap is not None else left

    def error(self, activity: str) -> BuildTimeoutError:
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
