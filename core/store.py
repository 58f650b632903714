"""Build records in Redis. Every Redis key Autobuild uses for builds is named here.

Redis is the source of truth for builds; rq only carries build ids. Status changes go through
:meth:`BuildStore.transition`, an optimistic compare-and-set (WATCH), or, inside a transaction
that cannot WATCH (a delivery's dispatch), :func:`add_transition_if_unchanged`, a compare-and-set
on the whole record in a script: a terminal status never changes again even when a canceller and
a worker race.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from core.build import BuildRecord, BuildStatus, utcnow
from core.build_index import ACTIVE_BUILDS as ACTIVE_BUILDS  # re-exported: callers know them here
from core.build_index import ALL_BUILDS as ALL_BUILDS
from core.build_index import (
    INDEX_MARKER,
    ensure_indexed,
    filter_index,
    index_new,
    index_status,
)
from core.build_index import repository_index_key as repository_index_key
from core.metrics import record_transition
from core.notifications import add_event

PREFIX = "autobuild:"
# ALL_BUILDS (every build), ACTIVE_BUILDS (every build not yet in a terminal status) and the
# per-repository, per-status indexes: core.build_index
QUEUED_BUILDS = PREFIX + "builds:queued"  # the builds waiting for a worker
# builds being queued right now, counted against the queue cap: "<token>|<count>" by expiry
ADMITTING = PREFIX + "builds:admitting"
ADMIT_SECONDS = 30  # a web process that dies while dispatching holds its places this long
REF_INDEX_MARKER = PREFIX + "builds:active:ref-index"  # set once active builds are indexed by ref
DELIVERY_TTL_SECONDS = 7 * 24 * 3600  # GitHub keeps deliveries for redelivery at most this long
# written just before a WAIT, so the WAIT covers every earlier write (core.replication)
REPLICATION_PROBE = PREFIX + "replication-probe"


def build_key(build_id: str) -> str:
    return f"{PREFIX}build:{build_id}"


def delivery_key(provider: str, delivery_id: str) -> str:
    return f"{PREFIX}delivery:{provider}:{delivery_id}"


def body_key(provider: str, body_digest: str) -> str:
    """A delivery's body, claimed beside its id: a replayed body with a new id is a duplicate."""
    return f"{PREFIX}delivery-body:{provider}:{body_digest}"


def log_key(build_id: str) -> str:
    return f"{PREFIX}log:{build_id}"


def heartbeat_key(build_id: str) -> str:
    """Set, with a short expiry, by the worker running the build; gone means the worker is lost."""
    return f"{PREFIX}heartbeat:{build_id}"


def concurrency_key(queue_name: str, provider: str, repository: str) -> str:
    """The rq rate-limit key that holds a repository to ``max_concurrent_builds`` on one queue
    (rq prefixes it: ``rq:rl:<this>``, with ``:allowed`` and ``:rate_limited`` sets)."""
    return f"{PREFIX}repo:{queue_name}:{provider}:{repository.lower()}"


def retry_schedule_key(queue_name: str) -> str:
    """Builds waiting out a retry's backoff, scored by when they are due, per rq queue."""
    return f"{PREFIX}retries:{queue_name}"


def tag_push_key(image: str, tag: str) -> str:
    """Which build last pushed ``image:tag``: tags never move back to an older commit."""
    return f"{PREFIX}tag:{image}:{tag}"


def tag_lock_key(image: str, tag: str) -> str:
    """Held by the build pushing ``image:tag``, while it checks, pushes and records it."""
    return f"{PREFIX}tag-lock:{image}:{tag}"


class StoreError(RuntimeError):
    """The build store could not do what was asked."""


class BuildNotFoundError(StoreError):
    def __init__(self, build_id: str) -> None:
        super().__init__(f"There is no build {build_id!r}.")
        self.build_id = build_id


class StaleTransitionError(StoreError):
    """The build is no longer in a status that allows the change (usually: it already ended)."""

    def __init__(self, record: BuildRecord, wanted: BuildStatus) -> None:
        super().__init__(
            f"Build {record.id} is {record.status.value}; it cannot become {wanted.value}."
        )
        self.record = record


def active_ref_key(provider: str, repository: str, source_type: str, source_name: str) -> str:
    """The builds not yet ended of one ref (what a newer push to it may supersede): supersede
    reads these few instead of every active build. Two refs may share a key only in theory (a
    ``:`` in names); readers filter by the record's own fields."""
    return f"{PREFIX}builds:active:ref:{provider}:{repository.lower()}:{source_type}:{source_name}"


def _ref_key(record: BuildRecord) -> str:
    return active_ref_key(
        record.provider, record.repository, record.source_type.value, record.source_name
    )


def _index_status(pipe: Any, record: BuildRecord) -> None:
    score = record.created_at.timestamp()
    if record.status.terminal:
        pipe.zrem(ACTIVE_BUILDS, record.id)
        pipe.zrem(_ref_key(record), record.id)
    else:
        pipe.zadd(ACTIVE_BUILDS, {record.id: score})
        pipe.zadd(_ref_key(record), {record.id: score})
    if record.status is BuildStatus.QUEUED:
        pipe.zadd(QUEUED_BUILDS, {record.id: score})
    else:
        pipe.zrem(QUEUED_BUILDS, record.id)
    index_status(pipe, record)


def add_records(pipe: Any, records: Iterable[BuildRecord]) -> None:
    """Queue on ``pipe`` the writes that record new builds and index them."""
    for record in records:
        pipe.set(build_key(record.id), record.dumps())
        score = record.created_at.timestamp()
        pipe.zadd(ALL_BUILDS, {record.id: score})
        pipe.zadd(repository_index_key(record.provider, record.repository), {record.id: score})
        if not record.status.terminal:
            pipe.zadd(ACTIVE_BUILDS, {record.id: score})
            pipe.zadd(_ref_key(record), {record.id: score})
        if record.status is BuildStatus.QUEUED:
            pipe.zadd(QUEUED_BUILDS, {record.id: score})
        index_new(pipe, record)
        add_event(pipe, None, record)


def changed(
    current: BuildRecord,
    status: BuildStatus,
    *,
    expect: Collection[BuildStatus] | None = None,
    expect_attempt: int | None = None,
    **fields: Any,
) -> BuildRecord:
    """``current`` moved to ``status`` as :meth:`BuildStore.transition` does it (timestamps
    filled in), or StaleTransitionError when that change is not allowed."""
    allowed = (expect is None or current.status in expect) and (
        expect_attempt is None or current.attempt == expect_attempt
    )
    if current.status.terminal or not allowed:
        raise StaleTransitionError(current, status)
    now = utcnow()
    if status.running and current.started_at is None:
        fields.setdefault("started_at", now)
    if status.terminal:
        fields.setdefault("finished_at", now)
    return current.with_changes(status=status, **fields)


# The per-ref indexes' builds as stored, in one round trip (the build keys are built from the
# ids, as rq's own scripts build job keys). KEYS: per-ref index keys; ARGV: the build key prefix.
# Returns id, record (nil when gone), id, record, ...
_READ_REF_BUILDS = """
local found = {}
for _, index in ipairs(KEYS) do
    for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
        found[#found + 1] = id
        found[#found + 1] = redis.call('GET', ARGV[1] .. id) or false
    end
end
return found
"""

# The queue cap, checked and reserved in one step: builds waiting plus builds being queued by
# other dispatches (their reservations, dropped when they have written or after ADMIT_SECONDS),
# plus these, must stay within the cap; and the repository's own (its waiting builds, read from
# their records only when the whole queue could exceed its share, plus its reservations) within
# its share. A dispatch whose delivery an earlier copy claimed (KEYS[3] holds another value than
# ours) reserves nothing. A reservation is "token|repository tag|count".
# KEYS: queued builds, reservations[, the delivery's claim]
# ARGV: cap (0: none), how many, reservation token, now, expiry, our claim's value, the
# repository's share (0: none), its tag, its provider, its name (lowercase), the build key prefix
# Returns {builds waiting or being queued, 1 if reserved (or no cap) else 0, the repository's}.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local total, ours = redis.call('ZCARD', KEYS[1]), 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local count, tag = string.match(member, '|(%d+)$'), string.match(member, '|([^|]*)|%d+$')
    total = total + tonumber(count)
    if tag == ARGV[8] then ours = ours + tonumber(count) end
end
local cap, adding, share = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[7])
if (cap == 0 and share == 0) or (KEYS[3] and redis.call('GET', KEYS[3]) ~= ARGV[6]) then
    return {total, 1, ours}
end
if cap > 0 and total + adding > cap then
    return {total, 0, ours}
end
if share > 0 and total + adding > share then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
        local raw = redis.call('GET', ARGV[11] .. id)
        if raw then
            local record = cjson.decode(raw)
            if record.provider == ARGV[9] and string.lower(record.repository) == ARGV[10] then
                ours = ours + 1
            end
        end
    end
    if ours + adding > share then
        return {total, 0, ours}
    end
end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3] .. '|' .. ARGV[8] .. '|' .. ARGV[2])
return {total, 1, ours}
"""

# A delivery's claims (its id, its body's digest), all or none: when one is held, its value (the
# earlier copy's build ids); else every key is set to ours and the answer is nil.
# KEYS: the claim keys; ARGV: our claim, the TTL in seconds.
_CLAIM = """
for _, key in ipairs(KEYS) do
    local held = redis.call('GET', key)
    if held then
        return held
    end
end
for _, key in ipairs(KEYS) do
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
end
return false
"""


# A claim whose builds were never recorded is dropped, so that the next copy of the delivery
# queues them: its dispatch failed and so did forgetting the claim (the Redis master went away
# between the two, after the claim had reached a replica). Only while every claim key still holds
# that claim (or nothing) and none of its builds exists. KEYS: the claim keys; ARGV: the claim,
# the build key prefix. Returns 1 when dropped.
_DROP_STALE_CLAIM = """
for _, key in ipairs(KEYS) do
    local held = redis.call('GET', key)
    if held and held ~= ARGV[1] then
        return 0
    end
end
for id in string.gmatch(ARGV[1], '[^,]+') do
    if redis.call('EXISTS', ARGV[2] .. id) == 1 then
        return 0
    end
end
redis.call('DEL', unpack(KEYS))
return 1
"""


def _claim_keys(provider: str, delivery_id: str | None, body_digest: str | None) -> list[str]:
    keys = [delivery_key(provider, delivery_id)] if delivery_id else []
    return keys + ([body_key(provider, body_digest)] if body_digest else [])


# A status change as a compare-and-set on the whole record, for a transaction that cannot WATCH:
# the new record and the index and metric updates that go with it are written only when the
# record is still exactly the one the change was computed from (else nothing, and 0).
# KEYS[1]: the build key, then the keys of the other commands.
# ARGV: the record as read, the new record, then per command: name, its key's index in KEYS,
# the number of its arguments, the arguments.
_SET_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2])
local i = 3
while i <= #ARGV do
    local count = tonumber(ARGV[i + 2])
    redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + count))
    i = i + 3 + count
end
return 1
"""


class _ScriptCommands:
    """Stands in for a pipeline to :func:`_index_status` and :func:`record_transition`: the
    commands they queue become arguments of ``_SET_IF_UNCHANGED``."""

    def __init__(self, key: str) -> None:
        self.keys: list[str] = [key]
        self.args: list[Any] = []

    def _add(self, name: str, key: str, *args: Any) -> None:
        self.keys.append(key)
        self.args.extend((name, len(self.keys), len(args), *args))

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        for member, score in mapping.items():
            self._add("ZADD", key, score, member)

    def zrem(self, key: str, *members: str) -> None:
        self._add("ZREM", key, *members)

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self._add("HINCRBY", key, field, amount)

    def hincrbyfloat(self, key: str, field: str, amount: float = 1.0) -> None:
        self._add("HINCRBYFLOAT", key, field, amount)

    def rpush(self, key: str, *values: str) -> None:
        self._add("RPUSH", key, *values)

    def lpush(self, key: str, *values: str) -> None:
        self._add("LPUSH", key, *values)

    def ltrim(self, key: str, start: int, end: int) -> None:
        self._add("LTRIM", key, start, end)

    def expire(self, key: str, seconds: int) -> None:
        self._add("EXPIRE", key, seconds)


def add_transition_if_unchanged(
    pipe: Any, raw: bytes, current: BuildRecord, updated: BuildRecord
) -> int:
    """Queue on ``pipe`` (a transaction) the status change ``current`` -> ``updated``, made only
    if the stored record is still ``raw``: what :meth:`BuildStore.transition` writes (record,
    indexes, metrics), with a compare-and-set instead of WATCH. Returns the index of its reply
    in the pipeline's results: 1 when the change was made, 0 when the record had changed."""
    commands = _ScriptCommands(build_key(updated.id))
    _index_status(commands, updated)
    record_transition(commands, current, updated)
    add_event(commands, current, updated)
    at = len(pipe)
    pipe.eval(
        _SET_IF_UNCHANGED,
        len(commands.keys),
        *commands.keys,
        raw,
        updated.dumps(),
        *commands.args,
    )
    return at


@dataclass(frozen=True)
class DispatchView:
    """What a delivery's dispatch reads before it writes (one round trip)."""

    earlier: list[str] | None  # None: the delivery is claimed by this call; else its builds
    queued: int  # builds waiting for a worker or being queued by other dispatches
    active: list[tuple[bytes, BuildRecord]]  # builds not ended of the refs, as stored, oldest first
    admitted: bool = True  # within the queue cap (places reserved: see ``reservation``)
    reservation: str | None = None  # the ADMITTING member to remove with the builds' writes
    repository_queued: int = 0  # the repository's own (counted only when near its share)


class BuildStore:
    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection
        self._ref_index_ready = False
        self._filter_index_ready = False

    # -- records ---------------------------------------------------------------------------
    def create(self, records: Iterable[BuildRecord]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        add_records(pipe, records)
        pipe.execute()

    def get(self, build_id: str) -> BuildRecord | None:
        raw: Any = self.redis.get(build_key(build_id))
        return BuildRecord.loads(raw) if raw is not None else None

    def require(self, build_id: str) -> BuildRecord:
        record = self.get(build_id)
        if record is None:
            raise BuildNotFoundError(build_id)
        return record

    def get_many(self, build_ids: Sequence[str]) -> list[BuildRecord]:
        if not build_ids:
            return []
        raws: list[Any] = self.redis.mget([build_key(i) for i in build_ids])
        return [BuildRecord.loads(raw) for raw in raws if raw is not None]

    def recent(
        self,
        *,
        provider: str | None = None,
        repository: str | None = None,
        statuses: Collection[BuildStatus] | None = None,
        limit: int = 50,
    ) -> list[BuildRecord]:
        """Builds newest first, filtered by repository (provider optional) and status; the
        filters read their indexes (:mod:`core.build_index`), not every build."""
        self._ensure_filter_index()
        index = filter_index(self.redis, provider, repository, statuses)
        if index is None:
            return []
        found: list[BuildRecord] = []
        start, page = 0, max(limit * 2, 100)
        while len(found) < limit:
            window: Any = self.redis.zrevrange(index, start, start + page - 1)
            ids = [i.decode() for i in window]
            if not ids:
                break
            for record in self.get_many(ids):
                if repository and record.repository.lower() != repository.lower():
                    continue
                if provider and record.provider != provider:
                    continue
                if statuses and record.status not in statuses:
                    continue
                found.append(record)
                if len(found) == limit:
                    break
            start += page
        return found

    # -- status ----------------------------------------------------------------------------
    def transition(
        self,
        build_id: str,
        status: BuildStatus,
        *,
        expect: Collection[BuildStatus] | None = None,
        expect_attempt: int | None = None,
        **fields: Any,
    ) -> BuildRecord:
        """Move a build to ``status`` (and set ``fields``) unless it has ended, is not in
        ``expect``, or is no longer at attempt ``expect_attempt`` (another attempt took over).
        Timestamps are filled in: ``started_at`` on starting to run (a build canceled or
        superseded while queued never started), ``finished_at`` on reaching a terminal status."""
        key = build_key(build_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    if raw is None:
                        raise BuildNotFoundError(build_id)
                    current = BuildRecord.loads(raw)
                    updated = changed(
                        current, status, expect=expect, expect_attempt=expect_attempt, **fields
                    )
                    pipe.multi()
                    pipe.set(key, updated.dumps())
                    _index_status(pipe, updated)
                    record_transition(pipe, current, updated)  # counted with the change
                    add_event(pipe, current, updated)  # notified with the change
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    def update(
        self, build_id: str, *, expect_attempt: int | None = None, **fields: Any
    ) -> BuildRecord:
        """Change fields other than the status, whatever the status is; with ``expect_attempt``
        only while the build is at that attempt (else the record is returned unchanged: a
        worker's phases and progress never land on the next attempt)."""
        key = build_key(build_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    if raw is None:
                        raise BuildNotFoundError(build_id)
                    current = BuildRecord.loads(raw)
                    if expect_attempt is not None and current.attempt != expect_attempt:
                        pipe.reset()
                        return current
                    updated = current.with_changes(**fields)
                    pipe.multi()
                    pipe.set(key, updated.dumps())
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    def active(self) -> list[BuildRecord]:
        """Every build not yet ended, oldest first."""
        members: Any = self.redis.zrange(ACTIVE_BUILDS, 0, -1)
        ids = [i.decode() for i in members]
        return self.get_many(ids)

    def read_for_dispatch(
        self,
        provider: str,
        delivery_id: str | None,
        build_ids: Sequence[str],
        refs: Iterable[tuple[str, str, str, str]],
        cap: int = 0,
        *,
        body_digest: str | None = None,
        repository: str = "",
        share: int = 0,
    ) -> DispatchView:
        """In one round trip: claim the delivery for ``build_ids`` (no id, no claim; an earlier
        copy's claim answers the build ids it queued), check the queue ``cap`` and the
        ``repository``'s ``share`` of it (0: none) and reserve places for the builds within
        them, and read the active builds of ``refs`` as
        stored. The caller removes the reservation (:data:`ADMITTING`) in the transaction that
        records the builds, or with :meth:`release_dispatch`. The delivery is claimed by its id
        and by ``body_digest`` (sha256 of the body) in one step: either one held answers the
        earlier copy's builds."""
        self._ensure_ref_index()
        keys = list(dict.fromkeys(active_ref_key(*ref) for ref in refs))
        claim = ",".join(build_ids) or "-"
        token = uuid.uuid4().hex
        pipe = self.redis.pipeline(transaction=False)
        admit_keys = [QUEUED_BUILDS, ADMITTING]
        claim_keys = _claim_keys(provider, delivery_id, body_digest)
        if claim_keys:
            pipe.eval(_CLAIM, len(claim_keys), *claim_keys, claim, DELIVERY_TTL_SECONDS)
            admit_keys.append(claim_keys[0])
        now = time.time()
        name = repository.lower()
        tag = hashlib.sha256(f"{provider}/{name}".encode()).hexdigest()[:16]
        admit_args: list[str | int | float] = [
            cap,
            len(build_ids),
            token,
            now,
            now + ADMIT_SECONDS,
            claim,
            share,
            tag,
            provider,
            name,
            build_key(""),
        ]
        pipe.eval(_ADMIT, len(admit_keys), *admit_keys, *admit_args)
        pipe.eval(_READ_REF_BUILDS, len(keys), *keys, build_key(""))
        replies = pipe.execute()
        earlier: list[str] | None = None
        if claim_keys and replies[0] is not None:
            text = replies[0].decode()
            earlier = [] if text == "-" else text.split(",")
        found = replies[-1]
        active: dict[str, tuple[bytes, BuildRecord]] = {}
        for i in range(0, len(found), 2):
            build_id, raw = found[i].decode(), found[i + 1]
            if raw is not None and build_id not in active:
                active[build_id] = (raw, BuildRecord.loads(raw))
        queued, admitted, ours = (int(value) for value in replies[-2])
        capped = cap or share
        reserved = (
            f"{token}|{tag}|{len(build_ids)}" if capped and admitted and earlier is None else None
        )
        return DispatchView(earlier, queued, list(active.values()), bool(admitted), reserved, ours)

    def _ensure_filter_index(self) -> None:
        """Index the builds recorded before the filter indexes existed (once)."""
        if self._filter_index_ready:
            return
        if not self.redis.exists(INDEX_MARKER):
            ensure_indexed(self.redis, self._every_record())
        self._filter_index_ready = True

    def _every_record(self) -> Iterable[BuildRecord]:
        start, page = 0, 1000
        while True:
            window: Any = self.redis.zrange(ALL_BUILDS, start, start + page - 1)
            if not window:
                return
            yield from self.get_many([i.decode() for i in window])
            start += page

    def _ensure_ref_index(self) -> None:
        """Index the active builds recorded before the per-ref index existed (once; a marker key
        says it was done, and this process remembers it)."""
        if self._ref_index_ready:
            return
        if not self.redis.exists(REF_INDEX_MARKER):
            pipe = self.redis.pipeline(transaction=False)
            for record in self.active():
                pipe.zadd(_ref_key(record), {record.id: record.created_at.timestamp()})
            pipe.set(REF_INDEX_MARKER, "1")
            pipe.execute()
        self._ref_index_ready = True

    def queued(self) -> list[BuildRecord]:
        """Every build waiting for a worker, oldest first."""
        members: Any = self.redis.zrange(QUEUED_BUILDS, 0, -1)
        return self.get_many([i.decode() for i in members])

    # -- deliveries ------------------------------------------------------------------------
    def drop_stale_claim(
        self,
        provider: str,
        delivery_id: str | None,
        claimed: Sequence[str],
        *,
        body_digest: str | None = None,
    ) -> bool:
        """Forget a delivery's claim on ``claimed`` builds none of which was ever recorded
        (:data:`_DROP_STALE_CLAIM`); False when the claim changed or a build exists."""
        keys = _claim_keys(provider, delivery_id, body_digest)
        if not keys or not claimed:
            return False
        dropped = self.redis.eval(
            _DROP_STALE_CLAIM, len(keys), *keys, ",".join(claimed), build_key("")
        )
        return bool(dropped)

    def release_dispatch(
        self,
        provider: str,
        delivery_id: str | None,
        reservation: str | None,
        *,
        body_digest: str | None = None,
    ) -> None:
        """Forget what a dispatch that recorded nothing claimed: the delivery, its places."""
        pipe = self.redis.pipeline(transaction=False)
        for key in _claim_keys(provider, delivery_id, body_digest):
            pipe.delete(key)
        if reservation:
            pipe.zrem(ADMITTING, reservation)
        if len(pipe):
            pipe.execute()
