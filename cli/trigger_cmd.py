"""``autobuild trigger PROVIDER/NAME [--tag T | --branch B | --docker-tag D]``: queue builds by
hand through the trigger endpoint, as Docker Hub's trigger URL did.

Without an option every rule with a literal source is built (``{"build": true}``). The token is
``AUTOBUILD_TOKEN`` (the repository's trigger token, or the admin token), else
``AUTOBUILD_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.client import ApiClient, ClientError, split_repository
from cli.logs import follow


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trigger",
        help="trigger builds of a repository",
        description="Queue builds of a configured repository at the commit its branch or tag "
        "points to now. Needs AUTOBUILD_TOKEN (trigger or admin token).",
    )
    parser.add_argument("repository", metavar="PROVIDER/NAME", help="e.g. github/octo/app")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--branch", "-b", metavar="B", help="build the rules matching branch B")
    which.add_argument("--tag", "-t", metavar="T", help="build the rules matching git tag T")
    which.add_argument(
        "--docker-tag", "-d", metavar="D", help="build the rules that produce Docker tag D"
    )
    parser.add_argument(
        "-f", "--follow", action="store_true",
        help="then follow the queued builds' logs (exit 0 only when all succeed)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def trigger_body(args: argparse.Namespace) -> dict[str, Any]:
    """Docker Hub's trigger bodies."""
    if args.branch:
        return {"source_type": "Branch", "source_name": args.branch}
    if args.tag:
        return {"source_type": "Tag", "source_name": args.tag}
    if args.docker_tag:
        return {"docker_tag": args.docker_tag}
    return {"build": True}


def run(args: argparse.Namespace) -> int:
    provider, name = split_repository(args.repository)
    if provider is None:
        print(
            f"autobuild trigger: name the repository as PROVIDER/NAME (e.g. github/{name}).",
            file=sys.stderr,
        )
        return 2
    try:
        client = ApiClient.from_env()
        if not client.token:
            print(
                "autobuild trigger: set AUTOBUILD_TOKEN to the repository's trigger token "
                "or the admin token.",
                file=sys.stderr,
            )
            return 2
        builds = client.trigger(provider, name, trigger_body(args))
        for build in builds:
            tags = ", ".join(build.get("docker_tags", []))
            print(
                f"Queued {build['id']}: {build['source_type']} {build['source_name']} "
                f"({str(build['commit'])[:7]}) -> {tags}  {client.build_url(build['id'])}"
            )
        if not args.follow:
            return 0
        outcomes = [follow(client, build["id"]) for build in builds]
        return max(outcomes, default=0)
    except ClientError as error:
        print(f"autobuild trigger: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
