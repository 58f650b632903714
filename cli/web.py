"""``autobuild web``: the web process, served by gunicorn."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from cli.config_errors import load_or_exit
from core.settings import Settings

WEB_THREADS = 16  # threads per process for everything but log streams


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("web", help="run the web process")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    load_or_exit(settings)  # fail at start, with the problems, rather than in every worker
    port = args.port or settings.port
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which(
        "gunicorn"
    )
    if gunicorn is None:
        print("gunicorn is not installed; run `make setup`.", file=sys.stderr)
        return 1
    print(f"Autobuild web UI: http://{args.host}:{port}/", flush=True)
    argv = [
        gunicorn,
        "--bind",
        f"{args.host}:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",  # streams never take the threads webhooks need (app/logstreams.py)
        str(settings.stream_limit + WEB_THREADS),
        "--access-logfile",
        "-",
        "app:create_app()",
    ]
    os.execv(gunicorn, argv)  # noqa: S606 - fixed program, our own arguments
