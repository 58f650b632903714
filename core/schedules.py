"""Scheduled builds: each rule's ``schedule:`` fired once, by whichever worker gets there first.

Every worker's maintenance thread (worker/maintenance.py) calls :meth:`Scheduler.tick` every
``AUTOBUILD_SCHEDULE_TICK`` seconds. For each rule with a schedule it takes the latest firing at
or before now; when that firing is newer than the last one handled (kept in Redis per rule),

1. it claims the firing: ``SET NX`` on a key made of the rule and the firing time, with a lease
   (:data:`CLAIM_LEASE_SECONDS`), so one process does the work and the others skip it;
2. it lists the remote's refs (``git ls-remote``, as the manual trigger does) and records and
   queues the rule's build at the ref's current commit, with ``trigger: schedule`` and the
   delivery id ``schedule:<rule>:<firing>``: dispatch is idempotent per delivery, so even a
   claimant whose lease ran out while another took over cannot queue the firing twice;
3. it moves the rule's "last handled" mark forward (never back).

Firings missed while nothing ran collapse into one: only the latest is due, and the mark then
passes all of them. A rule seen for the first time starts its mark at now (adding a schedule
does not build at once). A firing that failed (host unreachable, queue full) is tried again when
its claim's lease ends, unless a newer firing has come meanwhile.

Why not rq's scheduler: ``enqueue_at`` stores one job per firing, which must be planned ahead
by someone, re-planned on every configuration change and deduplicated anyway; the firing is a
pure function of the cron expression and the clock, so every worker can compute it and Redis
only has to arbitrate who acts.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue

from buildrules.matcher import RefTarget, plans_for_targets
from buildrules.model import BuildPlan, BuildRule, Config, Repository
from buildrules.schedule import Schedule
from core.build import BuildRecord, Trigger
from core.control import QueueFullError
from core.dispatch import dispatch
from core.masking import Masker
from core.remote import RemoteError, list_remote_refs
from core.settings import Settings
from core.store import PREFIX, BuildStore

logger = logging.getLogger(__name__)

CLAIM_LEASE_SECONDS = 300
# Moves the mark only forward: KEYS[1] the mark; ARGV[1] the firing (epoch seconds).
_ADVANCE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
"""


class Clock:
    """UTC now; with ``start`` (AUTOBUILD_SCHEDULE_NOW), a clock that starts there and runs on."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start
        self._started = time.monotonic()

    @classmethod
    def for_settings(cls, settings: Settings) -> Clock:
        return cls(settings.schedule_clock_start)

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(UTC)
        return self._start + timedelta(seconds=time.monotonic() - self._started)


@dataclass(frozen=True)
class ScheduledRule:
    """A rule with a schedule, and where it is."""

    repository: Repository
    index: int
    rule: BuildRule
    schedule: Schedule

    @property
    def key(self) -> str:
        """Names the rule in Redis keys; a changed source or schedule is a new rule."""
        what = "\0".join(
            (
                self.rule.source_type.value,
                self.rule.source,
                self.schedule.cron,
                self.schedule.timezone,
            )
        )
        digest = hashlib.sha256(what.encode()).hexdigest()[:12]
        return f"{self.repository.provider}:{self.repository.name.lower()}:{self.index}:{digest}"

    def to_json(self, now: datetime) -> dict[str, object]:
        """The schedule as the API shows it, with its next firing after ``now``."""
        return {
            "rule": self.index,
            "source_type": self.rule.source_type.value,
            "source": self.rule.source,
            "cron": self.schedule.cron,
            "timezone": self.schedule.timezone,
            "next_firing": self.schedule.next_after(now).isoformat(),
        }


def scheduled_rules(repository: Repository) -> Iterator[ScheduledRule]:
    for index, rule in enumerate(repository.build_rules):
        if rule.schedule is not None:
            yield ScheduledRule(repository, index, rule, rule.schedule)


def mark_key(rule_key: str) -> str:
    """The last firing handled for a rule (epoch seconds)."""
    return f"{PREFIX}schedule:mark:{rule_key}"


def claim_key(rule_key: str, firing: datetime) -> str:
    return f"{PREFIX}schedule:claim:{rule_key}:{int(firing.timestamp())}"


def delivery_id(rule_key: str, firing: datetime) -> str:
    return f"schedule:{rule_key}:{firing.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def plans_for_firing(
    scheduled: ScheduledRule, firing: datetime, masker: Masker, settings: Settings
) -> tuple[tuple[BuildPlan, ...], str | None]:
    """The plans a firing builds, at the ref's current commit, and why there are none."""
    remote = list_remote_refs(scheduled.repository.clone_url, masker, settings.environ)
    rule = scheduled.rule
    target = RefTarget(rule.source_type, rule.source, (scheduled.index,))
    plans = plans_for_targets(
        scheduled.repository, [target], remote.commit, now=scheduled.schedule.local(firing)
    )
    if not plans:
        return (), f"{rule.source_type.value} {rule.source!r} does not exist"
    return plans, None


class Scheduler:
    """Fires the schedules of ``config`` (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        config: Config,
        connection: redis.Redis,
        queue: Queue,
        masker: Masker,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.redis = connection
        self.store = BuildStore(connection)
        self.queue = queue
        self.masker = masker
        self.clock = clock or Clock.for_settings(settings)
        self.rules = [s for r in config.repositories for s in scheduled_rules(r)]
        self._advance = connection.register_script(_ADVANCE)

    def tick(self) -> list[BuildRecord]:
        """Fire every rule whose firing is due and not handled yet; the builds queued."""
        queued: list[BuildRecord] = []
        now = self.clock.now()
        for scheduled in self.rules:
            try:
                queued += self.fire_if_due(scheduled, now)
            except redis.RedisError:
                raise
            except Exception:
                logger.exception("schedule of %s: a firing failed", scheduled.key)
        return queued

    def fire_if_due(self, scheduled: ScheduledRule, now: datetime) -> list[BuildRecord]:
        mark = mark_key(scheduled.key)
        firing = scheduled.schedule.latest_at_or_before(now)
        if self.redis.set(mark, int(now.timestamp()), nx=True):
            return []  # first seen now: its schedule counts from here
        handled = int(self.redis.get(mark) or 0)
        if int(firing.timestamp()) <= handled:
            return []
        if not self.redis.set(
            claim_key(scheduled.key, firing), "1", nx=True, ex=CLAIM_LEASE_SECONDS
        ):
            return []  # another process has this firing
        try:
            plans, reason = plans_for_firing(scheduled, firing, self.masker, self.settings)
            if reason is not None:
                logger.warning(
                    "schedule of %s at %s: nothing built: %s", scheduled.key, firing, reason
                )
                records: list[BuildRecord] = []
            else:
                result = dispatch(
                    self.store, self.queue, scheduled.repository, plans,
                    trigger=Trigger.SCHEDULE,
                    delivery_id=delivery_id(scheduled.key, firing),
                    max_queued=self.settings.max_queued_builds,
                )  # fmt: skip
                records = [] if result.duplicate else list(result.builds)
        except (RemoteError, QueueFullError) as failed:
            logger.warning(
                "schedule of %s at %s: retried in %d s: %s",
                scheduled.key, firing, CLAIM_LEASE_SECONDS, failed,
            )  # fmt: skip
            return []
        self._advance(keys=[mark], args=[int(firing.timestamp())])
        return records


def firing_at(scheduled: ScheduledRule, moment: datetime) -> datetime | None:
    """The firing of ``scheduled`` in the minute of ``moment``, or None when it has none then."""
    minute = moment.replace(second=0, microsecond=0)
    firing = scheduled.schedule.latest_at_or_before(moment)
    return firing if firing >= minute else None


def plans_at(
    repository: Repository, moment: datetime, commit: str
) -> tuple[tuple[BuildPlan, ...], list[ScheduledRule]]:
    """What the schedules firing at ``moment`` build, each ref at ``commit`` (the dry run), and
    the scheduled rules that do not fire then."""
    plans: list[BuildPlan] = []
    idle: list[ScheduledRule] = []
    for scheduled in scheduled_rules(repository):
        firing = firing_at(scheduled, moment)
        if firing is None:
            idle.append(scheduled)
            continue
        rule = scheduled.rule
        target = RefTarget(rule.source_type, rule.source, (scheduled.index,))
        plans += plans_for_targets(
            repository, [target], lambda _t, _n: commit, now=scheduled.schedule.local(firing)
        )
    return tuple(plans), idle
