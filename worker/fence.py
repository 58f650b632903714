"""The fence before each push: an attempt pushes only while Redis positively confirms that the
build is still its own.

An attempt holds its build through two things in Redis: the record's ``attempt`` (raised by
whoever queues the build again) and the heartbeat lease ``heartbeat_key(build)``, whose value is
the attempt's token ``<attempt>:<host>:<pid>``. A worker cut off from Redis (its host's network
down) goes on running its build; once its heartbeat has expired another worker queues the build
again (:mod:`core.recovery`) and the next attempt builds and pushes it. When the first host comes
back, its build may be able to go on. So:

- before every push (each tag, each platform's image, each index) :func:`confirm` reads the
  record, the heartbeat and the tag lock the push holds in one ``MGET`` (one moment in Redis).
  Unless the record is at this attempt and running, the heartbeat's token is this attempt's and
  the tag lock is this build's, the push is not started (:class:`LeaseLostError`, the attempt
  stops); a Redis that does not answer is not a yes either (:class:`FenceUnconfirmedError`);
- :func:`beat` refreshes the heartbeat only while the record is at this attempt and the lease is
  free, this attempt's or an earlier attempt's (a script: one step in Redis). A worker coming back
  never takes a newer attempt's lease; it learns that it lost the build instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis

from core.build import BuildRecord
from core.store import build_key, heartbeat_key
from worker.errors import BuildStoppedError, InfrastructureError, sentence

# KEYS: the heartbeat, the build record. ARGV: our token, the lease in ms, our attempt.
# 1: the lease is ours (set or refreshed); 0: the record is gone or at another attempt;
# -1: the lease is held by another token of this attempt or of a later one.
_BEAT = """
local raw = redis.call('GET', KEYS[2])
if not raw then return 0 end
local attempt = tonumber(ARGV[3])
if tonumber(cjson.decode(raw).attempt or 1) ~= attempt then return 0 end
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then
    local holder = tonumber(string.match(held, '^(%d+):') or '')
    if holder == nil or holder >= attempt then return -1 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class Beat(Enum):
    HELD = 1  # the heartbeat is ours, refreshed
    MOVED_ON = 0  # the record is gone or at another attempt
    TAKEN = -1  # another holder has the lease


def beat(
    connection: redis.Redis, build_id: str, attempt: int, token: str, ttl_seconds: float
) -> Beat:
    """Take or refresh the build's heartbeat lease for attempt ``attempt`` (see the module doc)."""
    result: Any = connection.eval(
        _BEAT,
        2,
        heartbeat_key(build_id),
        build_key(build_id),
        token,
        max(1, int(ttl_seconds * 1000)),
        attempt,
    )
    return Beat(int(result))


@dataclass(frozen=True)
class Lease:
    """A lease the push holds besides the heartbeat (the tag lock): its key and our token."""

    key: str
    token: str


class LeaseLostError(BuildStoppedError):
    """This attempt no longer holds the build (Redis says another attempt or holder has it, or
    its lease may have expired unseen): it stops quietly, pushing nothing more; the record is
    someone else's to write. ``before``: the activity was not started (the fence refused it)."""

    def __init__(self, reason: str, activity: str, *, before: bool = True) -> None:
        super().__init__(reason, activity)
        self.reason = reason
        what = f"Did not start {activity}" if before else f"Stopped while {activity}"
        self.args = (sentence(f"{what}: {reason}"),)


class FenceUnconfirmedError(InfrastructureError):
    """Redis could not be asked whether the attempt still holds the build: nothing is pushed on
    a guess. Retryable: once Redis answers, the build is queued again (or recovered as lost)."""


def refusal(raws: Sequence[Any], attempt: int, token: str, leases: Sequence[Lease]) -> str | None:
    """Why the values read (the record, the heartbeat, then each of ``leases``) do not confirm
    that attempt ``attempt`` holds the build; None when they do."""
    raw_record, raw_beat, *raw_leases = raws
    if raw_record is None:
        return "the build record is gone"
    record = BuildRecord.loads(raw_record)
    if record.attempt != attempt:
        return f"the build was queued again as attempt {record.attempt}"
    if not record.status.running:
        return f"the build is {record.status.value}"
    if raw_beat is None:
        return "its heartbeat lease has expired"
    if raw_beat.decode() != token:
        return f"its heartbeat lease is held by {raw_beat.decode()!r}, not by this attempt"
    for lease, raw in zip(leases, raw_leases, strict=True):
        if raw is None or raw.decode() != lease.token:
            return f"it no longer holds {lease.key}"
    return None


def confirm(
    connection: redis.Redis,
    build_id: str,
    attempt: int,
    token: str,
    activity: str,
    leases: Sequence[Lease] = (),
) -> None:
    """Return only when Redis confirms, now, that attempt ``attempt`` (heartbeat ``token``) holds
    the build and ``leases``; else raise :class:`LeaseLostError` or
    :class:`FenceUnconfirmedError`, each naming ``activity`` (e.g. "pushing registry/app:1")."""
    keys = [build_key(build_id), heartbeat_key(build_id), *(lease.key for lease in leases)]
    try:
        raws: Any = connection.mget(keys)
    except redis.RedisError as error:
        raise FenceUnconfirmedError(
            f"Did not start {activity}: Redis could not confirm that attempt {attempt} still"
            f" holds the build ({error})"
        ) from error
    reason = refusal(raws, attempt, token, leases)
    if reason is not None:
        raise LeaseLostError(reason, activity)
