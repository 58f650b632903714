"""``autobuild``: one console script, one module per subcommand.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "cli.web",
    "cli.worker",
    "cli.notify",
    "cli.check_config",
    "cli.match",
    "cli.git_hook",
    "cli.demo",
    "cli.builds",
    "cli.logs",
    "cli.trigger_cmd",
    "cli.keygen",
    "cli.verify",
    "cli.prune",
    "cli.images",
    "cli.workers",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autobuild", description="Self-hosted automated image builds."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
