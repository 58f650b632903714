"""``autobuild logs ID [-f]``: a build's log; with ``-f``, follow it until the build ends.

Build output is hostile: control characters and escape sequences are shown escaped
(:mod:`cli.terminal`), never written raw to the terminal. With ``-f`` the exit status tells how
the build ended: 0 for ``success``, 1 otherwise (the final status goes to stderr), so
``autobuild logs -f ID && deploy`` works in scripts.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.client import ApiClient, ClientError, render_line
from cli.terminal import terminal_line, terminal_text


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "logs",
        help="print a build's log",
        description="Print a build's log; with -f, follow it live until the build ends "
        "(exit 0 only when it ends in success).",
    )
    parser.add_argument("build_id", metavar="ID", help="the build id (autobuild builds lists them)")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="follow the log until the build ends"
    )
    parser.set_defaults(func=run)


def follow(client: ApiClient, build_id: str) -> int:
    """Print the log as it grows; the exit status of the build's outcome."""
    status = "unknown"
    for event in client.follow_log(build_id):
        if event.kind == "line":
            print(terminal_line(render_line(event.data)), flush=True)
        elif event.kind == "end":
            status = str(event.data.get("status", "unknown"))
    build = client.build(build_id)
    outcome = f"Build {build_id} ended: {status}"
    if build.get("error"):
        outcome += f": {build['error']}"
    elif build.get("digest"):
        outcome += f" ({build['image']}@{build['digest']})"
    print(terminal_line(outcome), file=sys.stderr)
    return 0 if status == "success" else 1


def run(args: argparse.Namespace) -> int:
    try:
        client = ApiClient.from_env()
        if args.follow:
            return follow(client, args.build_id)
        sys.stdout.write(terminal_text(client.log_text(args.build_id)))
        sys.stdout.flush()
        return 0
    except ClientError as error:
        print(f"autobuild logs: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
