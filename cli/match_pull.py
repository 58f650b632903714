"""``autobuild match --pull-request N --base B --head-ref R [--fork]``: the dry run of a pull
request event (``source_type: pull_request`` rules match the base branch)."""

from __future__ import annotations

import argparse
from typing import Any

from core.events import PullRequest, PushEvent, RefType
from core.gitnames import short_name_problem


def register_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pull requests (instead of --ref)")
    group.add_argument("--pull-request", type=int, metavar="N", help="the pull request number")
    group.add_argument("--base", metavar="BRANCH", help="the branch it goes to (the rule source)")
    group.add_argument("--head-ref", metavar="BRANCH", help="the branch it comes from")
    group.add_argument("--fork", action="store_true", help="its head branch is in a fork")


def pull_request_event(args: argparse.Namespace) -> PushEvent | str | None:
    """The event ``args`` describe, a sentence saying what is wrong, or None (not a PR run)."""
    if args.pull_request is None:
        if args.base or args.head_ref or args.fork:
            return "--base, --head-ref and --fork go with --pull-request N"
        return None
    if args.ref:
        return "give either --ref or --pull-request, not both"
    if args.pull_request <= 0:
        return "--pull-request must be a positive number"
    names: dict[str, Any] = {"--base": args.base, "--head-ref": args.head_ref}
    for option, value in names.items():
        if not value:
            return f"{option} is needed with --pull-request"
        problem = short_name_problem(value)
        if problem:
            return f"{option} {value!r} is not a branch name: {problem}"
    pull = PullRequest(
        number=args.pull_request,
        head_ref=args.head_ref,
        base_ref=args.base,
        fork=args.fork,
        fetch_ref=f"refs/pull/{args.pull_request}/head",
    )
    return PushEvent(
        provider=args.provider,
        repository=args.repository,
        ref_type=RefType.PULL_REQUEST,
        ref_name=args.base,
        commit=args.commit,
        head_message=args.message,
        pull_request=pull,
    )
