"""Before a 2xx answer promises a write: ``WAIT`` until a replica has it, whenever one exists.

Redis replicates asynchronously: a master that dies right after answering a write can take it
with it, and Sentinel then promotes a replica that never saw it. So the web process, after
recording a delivery's builds, asks Redis to confirm that one replica holds everything written
so far (:func:`confirm_replicated`). That costs one round trip plus the replica's
acknowledgement, and only when the master has replicas: how many it has is read from
``INFO replication`` and kept for a few seconds (:class:`ReplicaCount`). A master that had a
replica a moment ago still waits for one (:data:`REPLICA_GRACE_SECONDS`): that is the old
master of a failover, still answering until the sentinels demote it and drop what it took.

``WAIT`` covers the writes of the connection it runs on, and a pooled client may have used
another one for the transaction. So the confirmation writes one small key of its own first, on
the connection that then waits: the replication stream is in order, and a replica that has that
write has every write the master acknowledged before it (the builds, or an earlier copy's)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from core.store import REPLICATION_PROBE

REPLICA_COUNT_SECONDS = 5.0  # how long a master's number of replicas is trusted
# A master that had a replica this recently still waits for one: during a failover the old master
# loses its replica (promoted) and keeps answering until the sentinels demote it, and what it
# accepts then is thrown away. A promoted replica starts a new replication id: not concerned.
REPLICA_GRACE_SECONDS = 60.0


class ReplicationTimeoutError(Exception):
    """No replica confirmed the writes within the timeout (the master still holds them)."""

    def __init__(self, wanted: int, timeout_ms: int) -> None:
        replicas = "a replica" if wanted == 1 else f"{wanted} replicas"
        super().__init__(
            f"Redis did not confirm within {timeout_ms} ms that {replicas} received the write"
        )
        self.wanted = wanted
        self.timeout_ms = timeout_ms


def replicas_in(info: Mapping[str, Any]) -> int:
    """The connected replicas an ``INFO replication`` answer names (0 for a replica itself)."""
    if info.get("role") != "master":
        return 0
    return int(info.get("connected_slaves") or 0)


class ReplicaCount:
    """How many replicas a write must reach: those connected to the master, read at most every
    ``seconds`` (and 1 while the master, by its replication id, had one within ``grace``
    seconds); one per process, shared by its threads."""

    def __init__(
        self,
        seconds: float = REPLICA_COUNT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        grace: float = REPLICA_GRACE_SECONDS,
    ) -> None:
        self.seconds = seconds
        self.grace = grace
        self._clock = clock
        self._lock = threading.Lock()
        self._known: tuple[float, int] | None = None  # (read at, replicas)
        self._had: dict[str, float] = {}  # replication id -> when it last had a replica

    def get(self, connection: redis.Redis) -> int:
        now = self._clock()
        with self._lock:
            if self._known is not None and now - self._known[0] < self.seconds:
                return self._known[1]
        info = connection.info("replication")
        count, replid = replicas_in(info), str(info.get("master_replid", ""))
        with self._lock:
            if count:
                self._had[replid] = now
            elif now - self._had.get(replid, -self.grace) < self.grace:
                count = 1  # its replica just went away: a failover may be under way
            self._known = (now, count)
        return count

    def forget(self) -> None:
        """Read the number again next time (a WAIT timed out: the replicas may have changed)."""
        with self._lock:
            self._known = None


def confirm_replicated(connection: redis.Redis, replicas: ReplicaCount, timeout_ms: int) -> int:
    """Wait until one replica has every write the master acknowledged so far, when the master
    has replicas (``timeout_ms`` 0: never wait). Returns how many confirmed (0: no replica to
    wait for); raises ReplicationTimeoutError when none did within ``timeout_ms``."""
    if timeout_ms <= 0 or replicas.get(connection) == 0:
        return 0
    pipe = connection.pipeline(transaction=False)  # one connection: the probe, then its WAIT
    pipe.incr(REPLICATION_PROBE)
    pipe.wait(1, timeout_ms)
    confirmed = int(pipe.execute()[1])
    if confirmed < 1:
        replicas.forget()
        raise ReplicationTimeoutError(1, timeout_ms)
    return confirmed
