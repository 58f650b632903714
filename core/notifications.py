"""The notification outbox: what a build's status changes owe the notification targets, and
what each target last answered. Every Redis key of notifications is named here.

A status change that notifies (queued, started, and every end) appends an event to the build's
outbox in the same transaction as the change itself (:func:`add_event`, called by
:mod:`core.store`), marks the build pending and wakes the notify process. That process
(:mod:`worker.notify`) turns pending builds into rq jobs that send each target the events in
order. So a change is never notified twice nor lost when a process dies, and nothing about
sending ever runs inside a build.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from core.build import BuildRecord, BuildStatus, utcnow

PREFIX = "autobuild:notify:"
PENDING = PREFIX + "pending"  # hash: build id -> events appended (fan-out compares and clears)
WAKE = PREFIX + "wake"  # list of at most one item: the notify process blocks on it
METRICS = "autobuild:metrics:notifications"  # hash: "<kind>|<outcome>" -> count
# How long a build's outbox, cursors and jobs are kept after its last change (a target's tries
# end after about two hours), and how long the build page can list its answers.
KEEP_SECONDS = 7 * 24 * 3600
ANSWERS_KEEP_SECONDS = 30 * 24 * 3600

END_EVENTS = {
    BuildStatus.SUCCESS: "build.succeeded",
    BuildStatus.FAILED: "build.failed",
    BuildStatus.ERROR: "build.errored",
    BuildStatus.TIMED_OUT: "build.timed_out",
    BuildStatus.CANCELED: "build.canceled",
    BuildStatus.SUPERSEDED: "build.superseded",
}


def outbox_key(build_id: str) -> str:
    """List of the build's events, oldest first (JSON: event, build as it was then)."""
    return f"{PREFIX}outbox:{build_id}"


def cursor_key(build_id: str) -> str:
    """Hash: target key -> how many outbox events that target is done with."""
    return f"{PREFIX}cursor:{build_id}"


def answers_key(build_id: str) -> str:
    """Hash: target key -> the target's last answer (JSON, see :class:`Answer`)."""
    return f"{PREFIX}answers:{build_id}"


def jobs_key(build_id: str) -> str:
    """Hash: target key -> id of the rq job that delivers to it."""
    return f"{PREFIX}jobs:{build_id}"


def lock_key(build_id: str, target: str) -> str:
    """Held by the one job sending a build's events to one target."""
    return f"{PREFIX}lock:{build_id}:{target}"


def event_for(before: BuildRecord | None, after: BuildRecord) -> str | None:
    """The event a status change is, or None when it notifies nobody (cloning -> building, or
    a record written as already ended, like the demo's)."""
    if before is None:
        return "build.queued" if after.status is BuildStatus.QUEUED else None
    if after.status is BuildStatus.QUEUED:
        return "build.queued" if before.status is not BuildStatus.QUEUED else None
    if after.status.running:
        return "build.started" if before.status is BuildStatus.QUEUED else None
    if after.status.terminal and not before.status.terminal:
        return END_EVENTS[after.status]
    return None


def add_event(pipe: Any, before: BuildRecord | None, after: BuildRecord) -> None:
    """Queue on ``pipe`` (the transaction that writes the change) the outbox writes for the
    change ``before`` -> ``after`` (``before`` None: a new build), if it notifies."""
    event = event_for(before, after)
    if event is None:
        return
    entry = json.dumps({"event": event, "at": utcnow().isoformat(), "build": after.to_json()})
    key = outbox_key(after.id)
    pipe.rpush(key, entry)
    pipe.expire(key, KEEP_SECONDS)
    pipe.hincrby(PENDING, after.id, 1)
    pipe.lpush(WAKE, after.id)
    pipe.ltrim(WAKE, 0, 0)  # one wake-up is enough: the notify process reads every pending build


@dataclass(frozen=True)
class OutboxEvent:
    event: str
    at: str
    build: dict[str, Any]  # the build record as the API showed it at the change
    index: int  # position in the build's outbox

    @property
    def record(self) -> BuildRecord:
        return BuildRecord.loads(json.dumps(self.build))


def read_outbox(connection: redis.Redis, build_id: str, start: int = 0) -> list[OutboxEvent]:
    raw: Any = connection.lrange(outbox_key(build_id), start, -1)
    events = []
    for offset, item in enumerate(raw):
        data = json.loads(item)
        events.append(OutboxEvent(data["event"], data["at"], data["build"], start + offset))
    return events


@dataclass(frozen=True)
class Answer:
    """What a target last said, as the build page lists it. ``label`` never holds a secret."""

    target: str  # the target's key
    kind: str  # status | webhook | apprise
    label: str
    event: str
    ok: bool
    answer: str  # "HTTP 201", "timed out after 10 s", ...
    attempts: int
    at: str
    delivered: tuple[str, ...] = ()  # events this target got, in order

    def dumps(self) -> str:
        data = dict(vars(self))
        data["delivered"] = list(self.delivered)
        return json.dumps(data)

    @classmethod
    def loads(cls, text: str | bytes) -> Answer:
        data = json.loads(text)
        data["delivered"] = tuple(data.get("delivered", ()))
        return cls(**data)


def read_answers(connection: redis.Redis, build_id: str) -> list[Answer]:
    """Every target's last answer for the build, status first, then by label."""
    raw: Any = connection.hgetall(answers_key(build_id))
    answers = [Answer.loads(value) for value in raw.values()]
    return sorted(answers, key=lambda a: (a.kind != "status", a.label))


def count_outcome(pipe: Any, kind: str, outcome: str) -> None:
    """Count one attempt: ``outcome`` is delivered, failed or gave_up."""
    pipe.hincrby(METRICS, f"{kind}|{outcome}", 1)


def read_counts(connection: redis.Redis) -> dict[tuple[str, str], int]:
    raw: Mapping[Any, Any] = connection.hgetall(METRICS)
    counts: dict[tuple[str, str], int] = {}
    for name, value in raw.items():
        kind, _, outcome = (name.decode() if isinstance(name, bytes) else str(name)).partition("|")
        counts[(kind, outcome)] = int(value)
    return counts
