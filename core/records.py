"""The record of a new build, made from what it builds: the one place a plan's fields are copied.

A webhook or a manual trigger records a build per :class:`buildrules.model.BuildPlan`; a retry
records a new build of the plan an earlier record holds (a record has every field of a plan).
Every field of the plan is copied by name, so a field added to both is carried by every path.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from buildrules.model import BuildPlan
from core.build import BuildRecord, Trigger, new_build_id

PLAN_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(BuildPlan))


def record_from_plan(
    plan: BuildPlan | BuildRecord,
    trigger: Trigger,
    delivery_id: str | None = None,
    build_id: str | None = None,
    *,
    retry_of: str | None = None,
) -> BuildRecord:
    """A new queued build of ``plan`` (a plan, or the record of the build it retries)."""
    copied: dict[str, Any] = {name: getattr(plan, name) for name in PLAN_FIELDS}
    return BuildRecord(
        id=build_id or new_build_id(),
        trigger=trigger,
        delivery_id=delivery_id,
        retry_of=retry_of,
        **copied,
    )
