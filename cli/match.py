"""``autobuild match``: a dry run of the build rules, without Redis, Docker or git.

Prints the builds one push would queue (image, tags, Dockerfile, context, build args), or why
there would be none. ``--json`` prints a JSON list of builds instead (``[]`` when none, with the
reason on stderr). Exit 0 after a dry run (builds or not), 1 when the configuration is broken or
the repository is not in it, 2 for a malformed command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from buildrules.loader import ConfigError, load
from buildrules.matcher import MatchResult, match
from buildrules.model import PROVIDERS
from buildrules.refs import parse_ref
from cli import match_pull
from cli.check_config import config_path
from cli.match_schedule import parse_now, run_schedule
from cli.plan_text import describe_plan_lines, plan_json
from core.events import PushEvent
from core.settings import SettingsError

PLACEHOLDER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "match",
        help="show which builds a push would queue (dry run)",
        description="Show the builds a push would queue, or why there would be none. "
        "Needs no Redis, Docker or git.",
    )
    parser.add_argument("--provider", required=True, choices=PROVIDERS, help="the git host")
    parser.add_argument("--repository", required=True, help="repository name, e.g. owner/name")
    parser.add_argument(
        "--ref",
        help="refs/heads/NAME, refs/tags/NAME, or a bare branch name"
        " (not with --schedule or --pull-request)",
    )
    parser.add_argument(
        "--commit",
        default=PLACEHOLDER_COMMIT,
        help="the pushed commit (default: a placeholder, for {sha} and {short_sha})",
    )
    parser.add_argument(
        "--changed",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="files the push changed, for path filters (default: unknown, filters let it build)",
    )
    parser.add_argument(
        "--message", default="", help="the head commit message, for skip markers like [skip ci]"
    )
    parser.add_argument(
        "--manual",
        action="store_true",
        help="as a manual trigger would: autobuild: false rules fire, "
        "skip markers and path filters are ignored",
    )
    parser.add_argument(
        "--schedule",
        action="store_true",
        help="what the rules' schedules build at --now (each ref at --commit)",
    )
    parser.add_argument(
        "--now",
        type=parse_now,
        help="the time: of the firing with --schedule, of {date} always (default: now)",
    )
    match_pull.register_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the builds as a JSON list")
    parser.add_argument(
        "--config",
        type=Path,
        help="configuration file or directory (default: $AUTOBUILD_CONFIG, else the demo)",
    )
    parser.set_defaults(func=run)


def describe_plans(result: MatchResult, event: PushEvent) -> str:
    where = f"{event.ref_type} {event.ref_name!r} at {event.commit[:7]}"
    if not result.plans:
        return f"No build for {where}: {result.reason}"
    count = len(result.plans)
    lines = [f"{count} build{'s' * (count != 1)} for {where}:"]
    return "\n".join(lines + describe_plan_lines(result.plans))


def _event(args: argparse.Namespace) -> PushEvent | str | None:
    """The event the command line describes, None for --schedule, or what is wrong with it."""
    pull_event = match_pull.pull_request_event(args)
    if args.schedule:
        if args.ref or pull_event is not None:
            return "--schedule takes no --ref or --pull-request"
        return None
    if pull_event is not None:
        return pull_event
    if not args.ref:
        return "give --ref, --pull-request N or --schedule (with --now)"
    try:
        ref_type, ref_name = parse_ref(args.ref)
    except ValueError as exc:
        return f"--ref: {exc}"
    return PushEvent(
        provider=args.provider,
        repository=args.repository,
        ref_type=ref_type,
        ref_name=ref_name,
        commit=args.commit,
        changed_files=tuple(args.changed) if args.changed is not None else None,
        head_message=args.message,
    )


def run(args: argparse.Namespace) -> int:
    event = _event(args)
    if isinstance(event, str):
        print(f"autobuild match: {event}", file=sys.stderr)
        return 2
    try:
        config = load(config_path(args.config))
    except (ConfigError, SettingsError) as error:
        print(error, file=sys.stderr)
        return 1
    repository = config.find_repository(args.provider, args.repository)
    if repository is None:
        print(
            f"autobuild match: repository {args.provider} {args.repository!r} is not configured",
            file=sys.stderr,
        )
        return 1
    if event is None:
        run_schedule(repository, args.now or datetime.now(UTC), args.commit, args.json)
        return 0
    result = match(config, event, manual=args.manual, now=args.now)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps([plan_json(p) for p in result.plans], indent=2))
        if not result.plans:
            print(f"No build: {result.reason}", file=sys.stderr)
    else:
        print(describe_plans(result, event))
    return 0
