"""Phases the build page does not know by name (hooks, tests, attest) get rows of their own, each
in the place it ran: after the row of the phase recorded before it."""

from __future__ import annotations

from app.phaseview import phases_for
from core.build import BuildStatus
from core.progress import PhaseRecord, PhaseStatus
from tests.unit.test_ui_phases import T0, record

HOOKED = (
    "clone", "post_checkout", "pre_build", "build", "post_build", "pre_test", "test",
    "post_test", "pre_push", "push", "post_push", "verify", "attest",
)  # fmt: skip


def with_phases(names, status=BuildStatus.SUCCESS, skipped=()):
    phases = tuple(
        PhaseRecord(name, PhaseStatus.SKIPPED if name in skipped else PhaseStatus.SUCCESS, T0, T0)
        for name in names
    )
    return record(status).with_changes(phases=phases)


def test_hook_rows_are_drawn_where_the_hooks_ran() -> None:
    rows = phases_for(with_phases(HOOKED, skipped=("pre_test", "post_test")))
    assert [row.name for row in rows] == [
        "clone", "post_checkout", "pre_build", "build", "post_build", "pre_test", "test",
        "post_test", "pre_push", "push", "post_push", "attest",
    ]  # fmt: skip
    assert rows[1].title == "Post checkout"
    assert {row.name: row.state for row in rows}["pre_test"] == "skipped"


def test_without_hooks_the_rows_are_clone_build_push_then_attest() -> None:
    rows = phases_for(with_phases(("clone", "build", "push", "verify", "attest")))
    assert [row.name for row in rows] == ["clone", "build", "push", "attest"]
