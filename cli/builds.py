"""``autobuild builds``: the recent builds, newest first, from the web process's API."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from cli.client import ApiClient, ClientError

COLUMNS = ("ID", "STATUS", "REPOSITORY", "REF", "TAGS", "COMMIT", "QUEUED", "DURATION")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "builds",
        help="list recent builds",
        description="List recent builds, newest first, from the Autobuild at $AUTOBUILD_URL "
        "(default http://127.0.0.1:8000).",
    )
    parser.add_argument(
        "--repository", "-r", metavar="R",
        help="only this repository: PROVIDER/NAME (github/octo/app) or NAME",
    )  # fmt: skip
    parser.add_argument(
        "--status", "-s", metavar="S",
        help="only these statuses, comma-separated (queued, cloning, building, pushing, success, "
        "failed, error, timed_out, canceled, superseded)",
    )  # fmt: skip
    parser.add_argument("--limit", "-n", type=int, default=20, metavar="N", help="default 20")
    parser.add_argument("--json", action="store_true", help="print the builds as JSON")
    parser.set_defaults(func=run)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def duration_text(build: dict[str, Any], now: datetime | None = None) -> str:
    started = _moment(build.get("started_at"))
    if started is None:
        return "-"
    end = _moment(build.get("finished_at")) or now or datetime.now(started.tzinfo)
    seconds = max(int((end - started).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def row(build: dict[str, Any]) -> tuple[str, ...]:
    created = _moment(build.get("created_at"))
    return (
        str(build["id"]),
        str(build["status"]),
        f"{build['provider']}/{build['repository']}",
        f"{build['source_type']} {build['source_name']}",
        ",".join(build.get("docker_tags", [])),
        str(build.get("commit", ""))[:7],
        created.astimezone().strftime("%Y-%m-%d %H:%M:%S") if created else "-",
        duration_text(build),
    )


def format_columns(columns: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    """Left-aligned columns, two spaces apart, the header first."""
    rows = [columns, *body]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )


def format_table(builds: list[dict[str, Any]]) -> str:
    return format_columns(COLUMNS, [row(build) for build in builds])


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 500:
        print("autobuild builds: --limit must be between 1 and 500.", file=sys.stderr)
        return 2
    try:
        builds = ApiClient.from_env().builds(args.repository, args.status, args.limit)
    except ClientError as error:
        print(f"autobuild builds: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(builds, indent=2))
    elif builds:
        print(format_table(builds))
    else:
        print("No builds.", file=sys.stderr)
    return 0
