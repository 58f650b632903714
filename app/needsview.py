"""Why a queued build waits, and how many builds wait for which capabilities: the build page and
``GET /api/v1/builds/<id>`` (``waiting_reason``) and the dashboard's table of queues
(core.capabilities, core.workers)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from app.context import AppContext
from core.build import BuildRecord, BuildStatus
from core.capabilities import Capabilities, display_order, waiting_reason
from core.needsqueues import needs_in_use
from core.workers import list_workers, live_capabilities


def live_workers(context: AppContext) -> list[Capabilities]:
    return live_capabilities(list_workers(context.redis, context.settings.queue_name))


def waiting_reason_of(
    context: AppContext, record: BuildRecord, workers: list[Capabilities] | None = None
) -> str | None:
    """Why a queued build waits when no live worker can run it; None for any other build."""
    if record.status is not BuildStatus.QUEUED:
        return None
    return waiting_reason(record.needs, live_workers(context) if workers is None else workers)


@dataclass(frozen=True)
class NeedsRow:
    """One line of the dashboard's table: builds queued with these needs, and the live workers
    that can take them (``reason``: why none can)."""

    needs: tuple[str, ...]
    queued: int
    workers: int
    reason: str | None

    @property
    def label(self) -> str:
        return ", ".join(display_order(self.needs)) or "any worker"


def needs_rows(context: AppContext) -> list[NeedsRow]:
    """The build queue and every needs queue in use, with their queued builds (from the build
    records: builds waiting for their repository's turn count too)."""
    queued = Counter(
        record.needs for record in context.store.active() if record.status is BuildStatus.QUEUED
    )
    sets = dict.fromkeys([(), *needs_in_use(context.redis, context.settings.queue_name)])
    sets.update(dict.fromkeys(sorted(queued)))
    workers = live_workers(context)
    return [
        NeedsRow(
            needs,
            queued[needs],
            sum(1 for w in workers if w.can_run(needs)),
            waiting_reason(needs, workers),
        )
        for needs in sets
    ]
