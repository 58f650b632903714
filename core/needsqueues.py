"""The build queues of every set of needs in use: which a worker listens to, and how many builds
wait on each (the dashboard's table, the queue-length metric).

:mod:`core.queue` lists each set of needs it queues a build for
(:func:`core.capabilities.needs_key`); a worker reads that list before it waits for a job
(worker.rq_worker), so a needs queue that appears while it waits is served within one wait
(``LISTEN_REFRESH_SECONDS``).
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue

from core.capabilities import (
    Capabilities,
    needs_from_text,
    needs_key,
    queue_name_for,
)
from core.queue import build_queue


def needs_in_use(connection: redis.Redis, base: str) -> list[tuple[str, ...]]:
    """Every set of needs a build was queued for on ``base``, sorted."""
    members: Any = connection.smembers(needs_key(base))
    texts = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
    return sorted(needs_from_text(text) for text in texts)


def queues_for(connection: redis.Redis, base: str, capabilities: Capabilities) -> list[Queue]:
    """The queues a worker with ``capabilities`` takes builds from, in the order it looks at
    them: the needs queues it can serve, those with the most needs first (a build only a few
    workers can run goes to one of them before a build any worker could take), then ``base``."""
    served = [needs for needs in needs_in_use(connection, base) if capabilities.can_run(needs)]
    served.sort(key=lambda needs: (-len(needs), needs))
    names = [queue_name_for(base, needs) for needs in served]
    return [build_queue(connection, name) for name in [*names, base]]


def queue_lengths(connection: redis.Redis, base: str) -> dict[tuple[str, ...], int]:
    """The length of the build queue (needs ``()``) and of every needs queue: jobs waiting for
    a worker (a build waiting for its repository's turn is not in a queue yet)."""
    sets: list[tuple[str, ...]] = [(), *needs_in_use(connection, base)]
    pipe = connection.pipeline(transaction=False)
    for needs in sets:
        pipe.llen(build_queue(connection, queue_name_for(base, needs)).key)
    return {needs: int(n) for needs, n in zip(sets, pipe.execute(), strict=True)}


def total_queued(connection: redis.Redis, base: str) -> int:
    """Jobs waiting for a worker in the build queue and every needs queue together."""
    return sum(queue_lengths(connection, base).values())
