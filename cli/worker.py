"""``autobuild worker [--burst] [--platform P] [--label L]``: an rq worker that runs builds (see
:mod:`worker.main`; what it offers: :mod:`worker.capabilities`);
``autobuild worker --drain [--name NAME]``: ask running workers to finish their current build,
take no new one and exit, and wait until they have."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Any

from cli.config_errors import load_or_exit
from core.settings import Settings, SettingsError

DRAIN_POLL_SECONDS = 1.0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker", help="run a build worker (rq, on the build queue), or drain running ones"
    )
    parser.add_argument(
        "--burst", action="store_true", help="work off the queued builds, then exit"
    )
    parser.add_argument("--log-level", default="INFO", help="rq's logging level (default INFO)")
    parser.add_argument(
        "--drain",
        action="store_true",
        help="run no worker: ask this host's workers (or those named by --name) to finish their "
        "current build, take no new one and exit; wait until they have",
    )
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="with --drain: the worker to drain (as `autobuild workers` names it; repeatable)",
    )
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="P",
        help="a platform this worker builds, like linux/arm64 (repeatable; default: its Docker "
        "daemon's own and those it can emulate); one the daemon cannot run is refused",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="L",
        help="a label this worker offers, like big-memory (repeatable): it takes the builds "
        "whose runs_on names it",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"autobuild worker: {error}", file=sys.stderr)
        return 1
    if args.drain:
        return run_drain(settings, tuple(args.name))
    if args.name:
        print("autobuild worker: --name only goes with --drain", file=sys.stderr)
        return 2
    from worker.main import run_worker  # the worker package (git, Docker) only where needed

    config = load_or_exit(settings)
    return run_worker(
        settings,
        config,
        burst=args.burst,
        log_level=args.log_level,
        platforms=tuple(args.platform),
        labels=tuple(args.label),
    )


def run_drain(settings: Settings, names: tuple[str, ...]) -> int:
    from redis import RedisError

    from core.workers import drain, still_running
    from worker.redis_connection import worker_redis

    connection = worker_redis(settings)
    host = socket.gethostname()
    try:
        asked = drain(connection, settings.queue_name, host=host, names=names)
        if not asked:
            where = "named " + ", ".join(names) if names else f"on {host}"
            print(f"autobuild worker: no running worker {where}", file=sys.stderr)
            return 1
        print(f"draining {len(asked)} worker(s): {', '.join(asked)}", flush=True)
        while still_running(connection, settings.queue_name, asked):
            time.sleep(DRAIN_POLL_SECONDS)
        print("drained: every one has finished its build and exited", flush=True)
        return 0
    except RedisError as error:
        print(f"autobuild worker: Redis unreachable: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
