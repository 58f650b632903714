"""The shape every phase of a build has, and what the driver loop hands it.

A phase is one unit of a build attempt (``clone``, ``build``, ``push``, ``verify`` today):

- :meth:`Phase.prepare` makes its typed, frozen input from the record and the outputs of the
  phases before it (:class:`Results`, looked up by type);
- :meth:`Phase.run` does the work and returns its typed, frozen output;
- :meth:`Phase.wanted` says whether this build needs it at all (a phase not wanted is recorded
  as ``skipped``: hooks, tests, signing and notifications are optional);
- ``status`` is the build status while it runs (None keeps the status as it is), ``activity``
  names it in a sentence ("stopped while building the image").

The loop in :mod:`worker.jobs` owns the rest: status changes, the phase records, deadlines and
error classification. A new phase is a new subclass in the list :func:`worker.phases.plan`
returns; the loop does not change.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from core.build import BuildRecord, BuildStatus, utcnow
from core.logs import BuildLog
from core.progress import PhaseRecord, PhaseStatus
from core.store import BuildStore
from worker.deadline import Checkpoint, Deadline
from worker.progress import ProgressSink

if TYPE_CHECKING:
    from buildrules.model import Repository
    from worker.context import WorkerContext
    from worker.fence import Lease
    from worker.watch import BuildWatcher

T = TypeVar("T")


@dataclass(frozen=True)
class PhaseOutput:
    """The base of every phase's output: what it asks to be written onto the record with the
    build's next status change (e.g. the commit a tag peeled to, the image id)."""

    def record_fields(self) -> dict[str, Any]:
        return {}


In = TypeVar("In")
Out = TypeVar("Out", bound=PhaseOutput, covariant=True)


class Results:
    """The outputs of the phases that ran, by type: a phase asks for what it needs."""

    def __init__(self) -> None:
        self._outputs: dict[type[Any], Any] = {}

    def add(self, output: object) -> None:
        self._outputs[type(output)] = output

    def get(self, kind: type[T]) -> T:
        found = self._outputs.get(kind)
        if found is None:
            raise LookupError(f"No phase produced a {kind.__name__} before this one")
        return found  # type: ignore[no-any-return]

    def find(self, kind: type[T]) -> T | None:
        found: T | None = self._outputs.get(kind)
        return found


@dataclass
class PhaseEnv:
    """What a phase may use from its attempt: the worker's context, the record as it is now,
    the build's repository, its deadline and watcher, its log, progress and resources (closed
    when the attempt ends, in reverse order)."""

    context: WorkerContext
    repository: Repository
    deadline: Deadline
    watcher: BuildWatcher | None
    log: BuildLog
    progress: ProgressSink
    current: Callable[[], BuildRecord]
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. the Docker client

    @property
    def record(self) -> BuildRecord:
        return self.current()

    def output(self, phase: str) -> Callable[[str], None]:
        """Log lines of ``phase``; every line is output for the no-output watchdog."""

        def emit(line: str) -> None:
            self.deadline.touch()
            self.log.append(line, phase=phase)

        return emit

    def checkpoint(self, activity: str) -> Checkpoint:
        """Called between stream chunks: a chunk is output; stop if the build must stop."""

        def check() -> None:
            self.deadline.touch()
            self.deadline.check(activity)

        return check

    def fence(self, activity: str, held: tuple[Lease, ...] = ()) -> None:
        """Just before a push: return only when Redis confirms that this attempt still holds
        the build (and ``held``, the tag lock); else raise (:mod:`worker.fence`)."""
        if self.watcher is not None:
            self.watcher.fence(activity, held)
        else:
            self.deadline.check(activity)


class Phase(ABC, Generic[In, Out]):
    """One unit of a build: ``prepare`` its input ``In``, ``run`` it into its output ``Out``."""

    name: ClassVar[str]  # as recorded in ``phases`` and as the log lines' phase
    status: ClassVar[BuildStatus | None] = None
    activity: ClassVar[str]

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        return True

    @abstractmethod
    def prepare(self, env: PhaseEnv, results: Results) -> In:
        """The phase's input (a frozen dataclass)."""

    @abstractmethod
    def run(self, env: PhaseEnv, given: In) -> Out:
        """Do the work; raise a :class:`~worker.errors.WorkerError` to end the build."""


class PhaseRecorder:
    """Keeps the attempt's ``phases`` on the record: each phase's start, end and status. Writes
    only while the build is at this attempt."""

    def __init__(self, store: BuildStore, build_id: str, attempt: int) -> None:
        self.store = store
        self.build_id = build_id
        self.attempt = attempt
        self.phases: list[PhaseRecord] = []

    @property
    def running(self) -> PhaseRecord | None:
        last = self.phases[-1] if self.phases else None
        return last if last is not None and last.status is PhaseStatus.RUNNING else None

    def start(self, name: str) -> None:
        self.phases.append(PhaseRecord(name, PhaseStatus.RUNNING, started_at=utcnow()))
        self._write()

    def end(self, status: PhaseStatus) -> None:
        running = self.running
        if running is not None:
            self.phases[-1] = running.ended(status, utcnow())
            self._write()

    def skip(self, names: Iterable[str], *, write: bool = True) -> None:
        self.phases.extend(PhaseRecord(name, PhaseStatus.SKIPPED) for name in names)
        if write:
            self._write()

    def close(self, status: PhaseStatus, rest: Iterable[str]) -> None:
        """The attempt ended early: the running phase ends ``status``, ``rest`` were skipped."""
        running = self.running
        if running is not None:
            self.phases[-1] = running.ended(status, utcnow())
        self.skip(rest, write=False)
        self._write()

    def _write(self) -> None:
        self.store.update(self.build_id, expect_attempt=self.attempt, phases=tuple(self.phases))
