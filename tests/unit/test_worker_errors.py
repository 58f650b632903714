"""Which terminal status each failure leads to, its sentence, and the build deadline."""

from __future__ import annotations

import docker.errors
import pytest
import requests
from rq.timeouts import JobTimeoutException

from core.build import BuildStatus
from worker.deadline import Deadline, describe_seconds
from worker.errors import (
    BuildTimeoutError,
    CheckoutError,
    ContextError,
    DaemonError,
    DigestMismatchError,
    DockerBuildError,
    PushError,
    RegistryError,
    WorkerError,
    classify,
    sentence,
)


@pytest.mark.parametrize(
    ("exc", "status", "retryable"),
    [
        (DockerBuildError("Step 2/3 failed: boom"), BuildStatus.FAILED, False),
        (ContextError("no Dockerfile"), BuildStatus.FAILED, False),
        (CheckoutError("could not fetch"), BuildStatus.ERROR, True),
        (DaemonError("daemon unreachable"), BuildStatus.ERROR, True),
        (PushError("push refused"), BuildStatus.ERROR, True),
        (RegistryError("registry unreachable"), BuildStatus.ERROR, True),
        (DigestMismatchError("digests differ"), BuildStatus.ERROR, True),
        (WorkerError("not configured"), BuildStatus.ERROR, False),
        (BuildTimeoutError("too slow"), BuildStatus.TIMED_OUT, False),
        (JobTimeoutException("rq"), BuildStatus.TIMED_OUT, False),
        (docker.errors.DockerException("socket gone"), BuildStatus.ERROR, True),
        (requests.exceptions.ConnectionError("refused"), BuildStatus.ERROR, True),
        (KeyError("bug"), BuildStatus.ERROR, False),
    ],
)
def test_each_failure_maps_to_one_status(exc, status, retryable):
    outcome = classify(exc)
    assert outcome.status is status
    assert outcome.retryable is retryable
    assert outcome.message.endswith((".", "…"))
    assert "\n" not in outcome.message


def test_daemon_connection_failures_say_the_daemon_is_unreachable():
    outcome = classify(docker.errors.DockerException("Error while fetching server API version"))
    assert outcome.message.startswith("Docker daemon unreachable: Error while fetching")


def test_unexpected_exceptions_name_their_type():
    assert classify(KeyError("x")).message == "The worker failed unexpectedly: KeyError: 'x'."


def test_sentences_are_one_bounded_line():
    assert sentence("  two\n lines  ") == "two lines."
    assert sentence("already done!") == "already done!"
    long = sentence("x" * 5000)
    assert len(long) <= 600 and long.endswith("…")


def test_describe_seconds_reads_naturally():
    assert describe_seconds(3600) == "60 minutes"
    assert describe_seconds(7200) == "2 hours"
    assert describe_seconds(90) == "90 seconds"
    assert describe_seconds(1) == "1 second"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_deadline_says_which_limit_ended_the_build():
    clock = Clock()
    deadline = Deadline(3600, clock=clock)
    deadline.check("building")
    assert deadline.remaining() == 3600
    assert deadline.timeout(cap=60) == 60
    clock.now += 3599.5
    assert deadline.timeout() == 1.0  # never zero: a zero socket timeout means "non-blocking"
    clock.now += 1
    assert deadline.expired
    with pytest.raises(BuildTimeoutError) as caught:
        deadline.checkpoint("building the image")()
    assert caught.value.message == (
        "The build was stopped while building the image:"
        " the repository's timeout of 60 minutes was reached."
    )
    assert classify(caught.value).status is BuildStatus.TIMED_OUT
