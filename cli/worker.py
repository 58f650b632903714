"""``autobuild worker [--burst]``: an rq worker that runs builds (see :mod:`worker.main`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.config_errors import load_or_exit
from core.settings import Settings, SettingsError


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker", help="run a build worker (rq, on the build queue)"
    )
    parser.add_argument(
        "--burst", action="store_true", help="work off the queued builds, then exit"
    )
    parser.add_argument("--log-level", default="INFO", help="rq's logging level (default INFO)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from worker.main import run_worker  # the worker package (git, Docker) only where needed

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"autobuild worker: {error}", file=sys.stderr)
        return 1
    config = load_or_exit(settings)
    return run_worker(settings, config, burst=args.burst, log_level=args.log_level)
