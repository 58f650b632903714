"""``autobuild check-config [PATH]``: validate a configuration without starting anything.

Exit 0 and ``OK: N repositories`` when it is valid; exit 1 with one ``FILE:LINE: message`` line
per problem (on stdout, like a linter) when it is not, or with one line per secret set in the
environment that is shorter than 20 characters (webhook secrets, trigger tokens, the admin token).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from buildrules.loader import ConfigError, load
from core.secretcheck import short_secrets
from core.settings import Settings, SettingsError


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check-config",
        help="validate a configuration file or directory",
        description="Validate a configuration: exit 0 when it is valid, 1 with one "
        "FILE:LINE: message line per problem.",
    )
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a YAML file, or a directory of *.yml/*.yaml files "
        "(default: $AUTOBUILD_CONFIG, else the demo configuration)",
    )
    parser.set_defaults(func=run)


def config_path(path: Path | None) -> Path:
    """``path`` when given, else the configured one (AUTOBUILD_CONFIG or the demo)."""
    return path if path is not None else Settings.from_env().config_path


def run(args: argparse.Namespace) -> int:
    try:
        path = config_path(args.path)
    except SettingsError as exc:
        print(f"autobuild check-config: {exc}")
        return 1
    try:
        config = load(path)
    except ConfigError as error:
        print(error)
        return 1
    try:
        short = short_secrets(Settings.from_env(), config)
    except SettingsError as exc:
        print(f"autobuild check-config: {exc}")
        return 1
    for problem in short:  # the secrets set in this environment, as the processes would see them
        print(f"autobuild check-config: {problem}")
    if short:
        return 1
    count = len(config.repositories)
    rules = sum(len(r.build_rules) for r in config.repositories)
    noun = "repository" if count == 1 else "repositories"
    print(f"OK: {count} {noun}, {rules} build rule{'s' * (rules != 1)} ({path})")
    return 0
