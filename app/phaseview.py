"""The build page's phase rows, drawn from the record's ``phases`` and ``progress`` fields (never
from the log's text). app/static/build.js draws the same rows from the build's JSON.

A row shows one phase, or several that read as one to a person (``verify`` is shown with
``push``); a phase this table does not know (hooks, tests, signing, ...) gets a row of its own.
A record without phases (queued, or written before phases were recorded) is drawn from its
status alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.build import BuildRecord, BuildStatus
from core.progress import PhaseRecord, PhaseStatus

ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("clone", "Clone", ("clone",)),
    ("build", "Build", ("build",)),
    ("push", "Push", ("push", "verify")),
)
STATUS_ROW = {BuildStatus.CLONING: 0, BuildStatus.BUILDING: 1, BuildStatus.PUSHING: 2}


@dataclass(frozen=True)
class Phase:
    name: str  # the row: clone | build | push | a phase's own name
    title: str
    state: str  # pending | active | done | failed | skipped
    detail: str = ""
    value: int | None = None  # progress, out of ``maximum``
    maximum: int | None = None


def _rows(record: BuildRecord) -> list[tuple[str, str, tuple[str, ...]]]:
    """The known rows, and each other recorded phase in its place: after the row of the phase
    recorded before it (``pre_build`` between Clone and Build, ``attest`` after Push)."""
    rows = list(ROWS)
    after = -1  # the row of the phase recorded before this one
    for phase in record.phases:
        found = next((i for i, (_, _, names) in enumerate(rows) if phase.name in names), None)
        if found is None:
            after += 1
            title = phase.name.replace("_", " ").capitalize()
            rows.insert(after, (phase.name, title, (phase.name,)))
        else:
            after = max(after, found)
    return rows


def _state_from_status(record: BuildRecord, index: int) -> str:
    """A row's state when the record has no phases: as far as the status tells."""
    if record.status is BuildStatus.SUCCESS:
        return "done"
    reached = STATUS_ROW.get(record.status, 0 if record.started_at is not None else -1)
    if index < reached:
        return "done"
    if index == reached:
        return "failed" if record.status.terminal else "active"
    return "skipped" if record.status.terminal else "pending"


def _state_from_phases(record: BuildRecord, phases: list[PhaseRecord], names: int) -> str:
    """A row's state from its recorded phases (``names``: how many the row shows)."""
    statuses = {phase.status for phase in phases}
    terminal = record.status.terminal
    if not phases:
        return "skipped" if terminal else "pending"
    if statuses & {PhaseStatus.FAILED, PhaseStatus.CANCELED}:
        return "failed"
    if PhaseStatus.RUNNING in statuses:
        return "failed" if terminal else "active"
    if statuses == {PhaseStatus.SKIPPED}:
        return "skipped"
    if len(phases) < names and not terminal:
        return "active"  # the row's next phase has not started yet
    return "done"


def _detail(record: BuildRecord, name: str, state: str) -> tuple[str, int | None, int | None]:
    if name == "build":
        step = record.progress.step()
        if step is not None:
            number = step.total if state == "done" else step.number
            return f"step {number} of {step.total}", number, step.total
    elif name == "push" and state != "pending":
        total = len(record.docker_tags)
        count = total if state == "done" else len({p.tag for p in record.progress.pushed})
        return f"{count} of {total} tags pushed", count, total
    return "", None, None


def phases_for(record: BuildRecord) -> list[Phase]:
    """Clone → build (step N of M) → push (tags pushed), and any other phase recorded."""
    fresh = record.status is BuildStatus.QUEUED  # a new attempt: the last one's phases are old
    recorded = [] if fresh else list(record.phases)
    rows = []
    for index, (name, title, names) in enumerate(_rows(record)):
        if recorded:
            mine = [phase for phase in recorded if phase.name in names]
            state = _state_from_phases(record, mine, len(names))
        else:
            state = _state_from_status(record, index) if index < len(ROWS) else "pending"
        detail, value, maximum = _detail(record, name, state)
        rows.append(Phase(name, title, state, detail, value, maximum))
    return rows
