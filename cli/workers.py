"""``autobuild workers``: every worker on the build queue, from the web process's API.

One line per worker: host, daemon, state (``lost`` when its heartbeat is overdue), current
build, builds done, last heartbeat, what it offers (labels, platforms) and rq's name of it (what
``autobuild worker --drain --name`` takes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.builds import format_columns
from cli.client import ApiClient, ClientError

COLUMNS = (
    "HOST",
    "DAEMON",
    "STATE",
    "BUILD",
    "DONE",
    "LAST HEARTBEAT",
    "LABELS",
    "PLATFORMS",
    "NAME",
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "workers",
        help="list the build workers",
        description="List every worker on the build queue (host, daemon, current build, builds "
        "done, last heartbeat, labels and platforms; 'lost' when it went quiet), from the "
        "Autobuild at $AUTOBUILD_URL.",
    )
    parser.add_argument("--json", action="store_true", help="print the workers as JSON")
    parser.set_defaults(func=run)


def rows(workers: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            worker["host"] or "-",
            (worker.get("daemon") or "-")[:12],
            "LOST" if worker.get("lost") else str(worker["state"]),
            (worker.get("current_build") or "-")[:8],
            str(worker["builds_done"]),
            worker.get("last_heartbeat") or "-",
            ",".join(worker.get("labels") or ()) or "-",
            ",".join(worker.get("platforms") or ()) or "-",
            worker["name"],
        )
        for worker in workers
    ]


def run(args: argparse.Namespace) -> int:
    try:
        workers = ApiClient.from_env().get_json("/api/v1/workers")["workers"]
    except ClientError as error:
        print(f"autobuild workers: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(workers, indent=2))
        return 0
    if not workers:
        print("No workers are running.", file=sys.stderr)
        return 0
    print(format_columns(COLUMNS, rows(workers)))
    return 0
