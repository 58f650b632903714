"""Why a build ended badly, and which terminal status that is.

Every failure the worker knows about is a :class:`WorkerError` whose class decides the status:

- :class:`UserBuildError` -> ``failed``: the user's build failed (a bad Dockerfile, a failing
  ``RUN`` step, a missing context or Dockerfile). Never retried automatically.
- :class:`InfrastructureError` -> ``error``: the daemon, the registry or the git host could not be
  reached or misbehaved (push stream error, digest mismatch). ``retryable`` is True for these.
- :class:`BuildTimeoutError` -> ``timed_out``.
- :class:`WorkerError` itself -> ``error`` and not retryable (e.g. the repository is no longer
  configured, or a registry password variable is unset).

:func:`classify` also maps the exceptions of the libraries underneath (Docker SDK, requests, rq's
job timeout) so the job has one place that turns any exception into a status and a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import docker.errors
import requests
from rq.timeouts import JobTimeoutException

from core.build import BuildStatus

MAX_MESSAGE_LENGTH = 600


def sentence(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """``text`` as one line for a person: whitespace collapsed, ending in punctuation, bounded."""
    line = re.sub(r"\s+", " ", text).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    if line and line[-1] not in ".!?…":
        line += "."
    return line


class WorkerError(Exception):
    """A build ended badly for a reason a person can read in ``message``."""

    status: ClassVar[BuildStatus] = BuildStatus.ERROR
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        self.message = sentence(message)
        super().__init__(self.message)


class UserBuildError(WorkerError):
    """The user's build failed: the repository's content is at fault, not the service."""

    status = BuildStatus.FAILED


class ContextError(UserBuildError):
    """The build context or the Dockerfile is missing, or escapes the repository."""


class DockerBuildError(UserBuildError):
    """Docker reported an error while building (a failing step, a bad instruction)."""


class InfrastructureError(WorkerError):
    """A service the build depends on failed; trying again later may well work."""

    retryable = True


class CheckoutError(InfrastructureError):
    """The commit could not be fetched from the git host or exported from the mirror."""


class MissingCommitError(CheckoutError):
    """The git host answered, but the commit is not there (any more): trying again cannot help."""

    retryable = False


class DaemonError(InfrastructureError):
    """The Docker daemon could not be reached or stopped answering."""


class PushError(InfrastructureError):
    """A push stream reported an error or ended without a digest."""


class PushRefusedError(PushError):
    """The registry refused the push (credentials, permissions): trying again cannot help."""

    retryable = False


class RegistryError(InfrastructureError):
    """The registry could not be reached or did not confirm what was pushed."""


class DigestMismatchError(RegistryError):
    """The registry holds a different manifest for a tag than the push reported."""


class BuildTimeoutError(WorkerError):
    """A time limit on the build was reached; ``limit`` names which one."""

    status = BuildStatus.TIMED_OUT

    def __init__(self, message: str, limit: str = "timeout") -> None:
        super().__init__(message)
        self.limit = limit


class BuildStoppedError(Exception):
    """The build was ended from outside while it ran: canceled, superseded, or handed to another
    attempt. Its status is already recorded; the worker only stops, quietly."""

    def __init__(self, status: str, activity: str) -> None:
        super().__init__(f"The build was stopped while {activity}: it is now {status}")
        self.status = status
        self.activity = activity


@dataclass(frozen=True)
class Outcome:
    """The terminal status a failure leads to, the sentence for ``error``, and whether an
    automatic retry could help."""

    status: BuildStatus
    message: str
    retryable: bool = False


def classify(exc: BaseException) -> Outcome:
    """The status and sentence for any exception that ended a build."""
    if isinstance(exc, WorkerError):
        return Outcome(exc.status, exc.message, exc.retryable)
    if isinstance(exc, JobTimeoutException):
        return Outcome(
            BuildStatus.TIMED_OUT,
            sentence("The build ran past the job time limit and was stopped by the queue"),
        )
    if isinstance(exc, docker.errors.APIError):
        return Outcome(
            BuildStatus.ERROR,
            sentence(f"The Docker daemon refused a request: {api_error_text(exc)}"),
            True,
        )
    if isinstance(exc, docker.errors.DockerException | requests.exceptions.ConnectionError):
        return Outcome(BuildStatus.ERROR, sentence(f"Docker daemon unreachable: {exc}"), True)
    return Outcome(
        BuildStatus.ERROR,
        sentence(f"The worker failed unexpectedly: {type(exc).__name__}: {exc}"),
    )


def api_error_text(exc: docker.errors.APIError) -> str:
    """The daemon's own explanation from an APIError, without the request URL noise."""
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    if explanation:
        return str(explanation).strip()
    return str(exc)
