"""``autobuild match --schedule --now TIME``: what the rules' schedules build at that time."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from buildrules.model import BuildPlan, Repository
from cli.plan_text import describe_plan_lines, plan_json
from core.schedules import plans_at


def parse_now(text: str) -> datetime:
    """``--now``: an ISO 8601 time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time like 2026-12-01T03:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_schedule(
    repository: Repository, moment: datetime, commit: str, as_json: bool
) -> list[BuildPlan]:
    """Print what fires at ``moment`` (or which schedules do not, with their next firing)."""
    plans, idle = plans_at(repository, moment, commit)
    when = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if as_json:
        print(json.dumps([plan_json(p) for p in plans], indent=2))
    elif plans:
        count = len(plans)
        print(f"{count} scheduled build{'s' * (count != 1)} at {when} (commit {commit[:7]}):")
        print("\n".join(describe_plan_lines(plans)))
    else:
        print(f"No schedule of {repository.name} fires at {when}")
    for scheduled in idle:
        rule = scheduled.rule
        following = scheduled.schedule.next_after(moment).isoformat()
        line = (
            f"rule #{scheduled.index + 1} ({rule.source_type} {rule.source!r}, "
            f"{scheduled.schedule.cron!r} {scheduled.schedule.timezone}) fires next at {following}"
        )
        print(line, file=sys.stderr if as_json else sys.stdout)
    return list(plans)
