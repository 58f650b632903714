"""BuildKit's trace as the lines of ``docker build --progress=plain``, and progress as data.

Each vertex (a step of the solve: ``[stage 2/4] RUN make``, ``[internal] load build context``)
gets a number in the order it is first seen, and every line names it::

    #5 [stage 2/4] RUN make
    #5 0.412 cc -o app app.c
    #5 DONE 1.2s
    #6 [stage 3/4] COPY . /src
    #6 CACHED
    #7 ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3

Parallel steps interleave, but each line starts with its step's number. Output arrives in
chunks that are not lines; each step's partial line is kept until its newline (or the step's
end). Progress (steps done of steps known) comes from the vertexes, never from the text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.buildkit.status import StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning
from worker.streams import LineAssembler

LineFn = Callable[[str], None]
ProgressFn = Callable[[int, int], None]
TAIL_LINES = 5  # output lines kept per step, for the error message of a failing step


@dataclass(frozen=True)
class FailedStep:
    """The step that failed: its name, BuildKit's message and its last output lines.

    A step that fails without failing the build (a ``cache_from`` image not in the registry yet)
    is replaced by the next one that fails; steps canceled because another one failed are not
    failures of their own."""

    number: int
    name: str
    error: str
    tail: tuple[str, ...]

    def sentence(self) -> str:
        where = f"Step #{self.number} {self.name}".rstrip()
        text = f"{where} failed: {self.error}"
        if self.tail:
            shown = "; ".join(line[:200] for line in self.tail[-3:])
            text += f" (last output: {shown})"
        return text


@dataclass
class _Step:
    number: int
    name: str = ""
    started: float | None = None
    announced: bool = False
    done: bool = False
    assembler: LineAssembler = field(default_factory=LineAssembler)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    statuses_done: set[str] = field(default_factory=set)


class PlainProgress:
    """Turns a build's ``StatusResponse`` records into plain log lines and progress.

    ``on_line`` gets each line; ``on_progress(done, total)`` is called whenever the number of
    steps known or finished changes (internal steps count too: BuildKit cannot tell in advance
    how many there will be, so ``total`` grows as the frontend resolves the Dockerfile)."""

    def __init__(self, on_line: LineFn, on_progress: ProgressFn | None = None) -> None:
        self.on_line = on_line
        self.on_progress = on_progress
        self.steps: dict[str, _Step] = {}
        self.failed: FailedStep | None = None
        self._progress = (0, 0)

    # -- the whole record --------------------------------------------------------------------
    def feed(self, status: StatusResponse) -> None:
        for vertex in status.vertexes:
            self._vertex(vertex)
        for vertex_status in status.statuses:
            self._status(vertex_status)
        for log in status.logs:
            self._log(log)
        for warning in status.warnings:
            self._warning(warning)
        self._report_progress()

    def close(self) -> None:
        """Flush every step's unterminated output (the stream ended)."""
        for step in self.steps.values():
            self._flush(step)

    @property
    def progress(self) -> tuple[int, int]:
        return self._progress

    # -- parts ---------------------------------------------------------------------------------
    def _step(self, digest: str) -> _Step:
        step = self.steps.get(digest)
        if step is None:
            step = self.steps[digest] = _Step(len(self.steps) + 1)
        return step

    def _announce(self, step: _Step) -> None:
        if not step.announced and step.name:
            step.announced = True
            self.on_line(f"#{step.number} {step.name}")

    def _vertex(self, vertex: Vertex) -> None:
        step = self._step(vertex.digest)
        step.name = vertex.name or step.name
        if vertex.started is not None and step.started is None:
            step.started = vertex.started
        if vertex.started is None and vertex.completed is None and not vertex.cached:
            return  # known, not started: it counts towards the total only
        self._announce(step)
        if step.done:
            return
        if vertex.error:
            self._flush(step)
            step.done = True
            self.on_line(f"#{step.number} ERROR: {vertex.error}")
            if "context canceled" not in vertex.error:  # the last real failure is the build's
                self.failed = FailedStep(step.number, step.name, vertex.error, tuple(step.tail))
        elif vertex.cached:
            self._flush(step)
            step.done = True
            self.on_line(f"#{step.number} CACHED")
        elif vertex.completed is not None:
            self._flush(step)
            step.done = True
            seconds = max(vertex.completed - (step.started or vertex.completed), 0.0)
            self.on_line(f"#{step.number} DONE {seconds:.1f}s")

    def _status(self, status: VertexStatus) -> None:
        step = self._step(status.vertex)
        if status.completed is None or status.id in step.statuses_done:
            return  # only the end of a status (transfers, exports) is worth a line
        step.statuses_done.add(status.id)
        self._announce(step)
        amount = f" {_size(status.current)}" if status.current and status.total == 0 else ""
        if status.total:
            amount = f" {_size(status.current)} / {_size(status.total)}"
        self.on_line(f"#{step.number} {status.name or status.id}{amount} done")

    def _log(self, log: VertexLog) -> None:
        step = self._step(log.vertex)
        self._announce(step)
        text = log.data.decode("utf-8", errors="replace")
        for line in step.assembler.feed(text):
            self._output(step, line, log.timestamp)

    def _warning(self, warning: VertexWarning) -> None:
        step = self._step(warning.vertex) if warning.vertex else None
        prefix = f"#{step.number} " if step else ""
        self.on_line(f"{prefix}WARNING: {warning.short}".rstrip())
        for line in warning.detail:
            self.on_line(f"{prefix}{line}".rstrip())

    def _output(self, step: _Step, line: str, timestamp: float | None) -> None:
        step.tail.append(line)
        offset = ""
        if timestamp is not None and step.started is not None:
            offset = f"{max(timestamp - step.started, 0.0):.3f} "
        self.on_line(f"#{step.number} {offset}{line}")

    def _flush(self, step: _Step) -> None:
        for line in step.assembler.flush():
            self._output(step, line, None)

    def _report_progress(self) -> None:
        done = sum(1 for step in self.steps.values() if step.done)
        progress = (done, len(self.steps))
        if progress != self._progress:
            self._progress = progress
            if self.on_progress is not None:
                self.on_progress(*progress)


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f}{unit}" if unit == "B" else f"{amount:.2f}{unit}"
        amount /= 1000
    return f"{value}B"
