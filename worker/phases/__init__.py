"""The phases of a build attempt, in order (see :mod:`worker.phases.base` for their shape and
docs/builds.md for what each records). :func:`plan` is where a new phase (hooks, a test run,
per-platform builds, signing, notifications) slots in: the driver loop in :mod:`worker.jobs`
runs whatever list it returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from buildrules.model import Repository
from worker.phases.attest import AttestPhase
from worker.phases.base import Phase, PhaseOutput
from worker.phases.build import BuildPhase
from worker.phases.clone import ClonePhase
from worker.phases.hooks import with_hooks
from worker.phases.pull import PullPhase
from worker.phases.push import PushPhase
from worker.phases.test import TestPhase, tests_possible
from worker.phases.verify import VerifyPhase

__all__ = ["plan"]

AnyPhase = Phase[Any, PhaseOutput]


def plan(repository: Repository) -> Sequence[Phase[Any, PhaseOutput]]:
    """The phases a build of ``repository`` goes through (each may still skip itself)."""
    pull: tuple[Phase[Any, PhaseOutput], ...] = (PullPhase(),) if repository.pull else ()
    tests: tuple[Phase[Any, PhaseOutput], ...] = (
        (TestPhase(),) if tests_possible(repository) else ()
    )
    phases = (
        ClonePhase(), *pull, BuildPhase(), *tests, PushPhase(), VerifyPhase(), AttestPhase()
    )  # fmt: skip
    return with_hooks(phases) if repository.hooks else phases
