"""Turn build plans into build records and queued jobs, once per delivery."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rq import Queue

from buildrules.model import BuildPlan, Repository
from core.build import BuildRecord, Trigger, new_build_id
from core.control import check_queue_cap, supersede_older
from core.queue import enqueue_for
from core.store import BuildStore

DUPLICATE_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class DispatchResult:
    builds: tuple[BuildRecord, ...]
    duplicate: bool = False
    superseded: tuple[BuildRecord, ...] = ()


def record_from_plan(
    plan: BuildPlan, trigger: Trigger, delivery_id: str | None, build_id: str | None = None
) -> BuildRecord:
    return BuildRecord(
        id=build_id or new_build_id(),
        provider=plan.provider,
        repository=plan.repository,
        source_type=plan.source_type,
        source_name=plan.source_name,
        commit=plan.commit,
        image=plan.image,
        docker_tags=plan.docker_tags,
        dockerfile=plan.dockerfile,
        context=plan.context,
        build_args=plan.build_args,
        build_caching=plan.build_caching,
        rule_indexes=plan.rule_indexes,
        trigger=trigger,
        delivery_id=delivery_id,
    )


def _wait_for_records(store: BuildStore, build_ids: Sequence[str]) -> tuple[BuildRecord, ...]:
    """The builds an earlier copy of a delivery claimed; it may still be saving them."""
    deadline = time.monotonic() + DUPLICATE_WAIT_SECONDS
    while True:
        records = store.get_many(build_ids)
        if len(records) == len(build_ids) or time.monotonic() > deadline:
            return tuple(records)
        time.sleep(0.02)


def dispatch(
    store: BuildStore,
    queue: Queue,
    repository: Repository,
    plans: Sequence[BuildPlan],
    *,
    trigger: Trigger,
    delivery_id: str | None,
    max_queued: int = 0,
) -> DispatchResult:
    """Record one build per plan and enqueue its id. A delivery id seen before queues nothing
    and answers the builds its first copy queued. Older queued builds of the same ref and rules
    are superseded. Over ``max_queued`` waiting builds (0: no cap) raises QueueFullError."""
    records = [record_from_plan(plan, trigger, delivery_id) for plan in plans]
    if delivery_id:
        earlier = store.claim_delivery(repository.provider, delivery_id, [r.id for r in records])
        if earlier is not None:
            return DispatchResult(_wait_for_records(store, earlier), duplicate=True)
    try:
        check_queue_cap(store, max_queued, len(records))
        store.create(records)
    except Exception:
        if delivery_id:
            store.release_delivery(repository.provider, delivery_id)
        raise
    superseded = supersede_older(store, repository, records)
    for record in records:
        enqueue_for(queue, record, repository)
    return DispatchResult(tuple(records), superseded=tuple(superseded))
