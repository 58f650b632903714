"""The limits on a build attempt: wall clock, no-output watchdog, a stop from outside, and the
timeouts blocking calls get from them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from core.gitcmd import communicate
from worker.deadline import BACKSTOP_SLACK_SECONDS, Deadline
from worker.errors import BuildStoppedError, BuildTimeoutError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_no_output_watchdog_starts_over_with_every_output():
    clock = Clock()
    deadline = Deadline(3600, clock=clock, no_output_seconds=60)
    assert deadline.remaining() == 60  # the nearer of the two limits
    clock.now += 59
    deadline.touch()
    clock.now += 59
    assert not deadline.expired
    clock.now += 1
    assert deadline.expired
    with pytest.raises(BuildTimeoutError) as caught:
        deadline.check("building the image")
    assert caught.value.message == (
        "The build was stopped while building the image: the repository's no_output_timeout of"
        " 60 seconds was reached (no output for that long)."
    )
    assert caught.value.limit == "the repository's no_output_timeout"


def test_the_wall_clock_wins_even_while_there_is_output():
    clock = Clock()
    deadline = Deadline(120, clock=clock, no_output_seconds=60)
    for _ in range(4):
        clock.now += 30
        deadline.touch()
    assert deadline.expired
    error = deadline.error("pushing the image")
    assert isinstance(error, BuildTimeoutError)
    assert "the repository's timeout of 2 minutes was reached" in error.message


def test_a_stop_from_outside_ends_the_build_with_its_own_error_and_the_first_stop_wins():
    deadline = Deadline(3600)
    assert not deadline.stopped
    deadline.stop(lambda activity: BuildStoppedError("canceled", activity))
    deadline.stop(lambda activity: BuildStoppedError("superseded", activity))
    assert deadline.stopped and deadline.expired and deadline.remaining() == 0
    with pytest.raises(BuildStoppedError) as caught:
        deadline.checkpoint("building the image")()
    assert caught.value.status == "canceled"
    assert str(caught.value) == "The build was stopped while building the image: it is now canceled"


def test_a_backstop_timeout_fires_only_after_the_deadline_has_passed():
    clock = Clock()
    deadline = Deadline(3600, clock=clock, no_output_seconds=10)
    assert deadline.backstop() == 10 + BACKSTOP_SLACK_SECONDS
    assert deadline.backstop(cap=5) == 5  # a cap below what is left is the call's own limit
    assert deadline.backstop(cap=60) == 10 + BACKSTOP_SLACK_SECONDS


def test_a_command_is_given_up_on_as_soon_as_stop_says_so():
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stop_at = time.monotonic() + 0.3
    started = time.monotonic()
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            communicate(process, 30, lambda: time.monotonic() > stop_at)
        assert time.monotonic() - started < 3
    finally:
        process.kill()
        process.communicate()


def test_a_command_that_finishes_keeps_all_its_output():
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; print('a'); time.sleep(0.8); print('b')"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = communicate(process, 30, lambda: False)
    assert out.split() == [b"a", b"b"] and err == b""
