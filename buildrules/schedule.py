"""``schedule: {cron: "0 3 * * *", timezone: Europe/Berlin}``: a rule that also builds on a clock.

Cron expressions are read by ``cronsim`` (five fields, ``L``/``W``/``#`` and the ``@daily``
family; the library healthchecks.io runs, kept and typed). The expression is evaluated in the
rule's ``timezone`` (IANA name, default UTC), so ``0 3 * * *`` in Europe/Berlin is 03:00 Berlin
time in summer and in winter; cronsim's DST rules are cron's own (a skipped hour fires once after
the jump, a repeated hour once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cronsim import CronSim, CronSimError

from buildrules.yamlnodes import NodeReader

SCHEDULE_KEYS = ("cron", "timezone")
DEFAULT_TIMEZONE = "UTC"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    """A checked cron expression and the time zone it is read in."""

    cron: str
    timezone: str = DEFAULT_TIMEZONE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment``, in the schedule's zone."""
        start = moment.astimezone(self.zone)
        found = next(CronSim(self.cron, start))
        if found <= start:  # cronsim starts at the next whole minute; be exact about it
            found = next(CronSim(self.cron, found))
        return found

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last firing at or before ``moment``, in the schedule's zone."""
        later = moment.astimezone(self.zone).replace(second=0, microsecond=0)
        if self.next_after(later - timedelta(seconds=1)) == later:
            return later
        return next(CronSim(self.cron, later, reverse=True))

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the schedule's zone (what ``{date}`` of its firing prints)."""
        return moment.astimezone(self.zone)


def read_schedule(reader: NodeReader, node: yaml.Node) -> Schedule | None:
    """``schedule:`` checked: problems name the line of the key at fault."""
    entries = reader.mapping(node, "schedule")
    if entries is None:
        return None
    reader.check_keys(entries, SCHEDULE_KEYS, "schedule", {"tz": "write timezone"})
    if "cron" not in entries:
        reader.add(node, "schedule needs 'cron', like cron: \"0 3 * * *\"")
        return None
    cron = reader.string(entries["cron"].value, "schedule.cron")
    timezone = DEFAULT_TIMEZONE
    if "timezone" in entries:
        timezone = reader.string(entries["timezone"].value, "schedule.timezone") or ""
        if not timezone:
            return None
        try:
            ZoneInfo(timezone.strip())
            timezone = timezone.strip()
        except (ZoneInfoNotFoundError, ValueError):
            reader.add(
                entries["timezone"].value,
                f"schedule.timezone {timezone!r} is not a known time zone "
                "(an IANA name like UTC or Europe/Berlin)",
            )
            return None
    if cron is None:
        return None
    cron = " ".join(cron.split())
    try:
        CronSim(cron, _EPOCH)
    except CronSimError as exc:
        reader.add(
            entries["cron"].value,
            f"schedule.cron {cron!r} is not a cron expression: {exc} "
            "(five fields: minute hour day-of-month month day-of-week)",
        )
        return None
    return Schedule(cron, timezone)
