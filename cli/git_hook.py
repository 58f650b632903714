"""Placeholder: `autobuild git-hook` is being written."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("git-hook", help="(not yet available)")
    parser.set_defaults(func=lambda args: 2)
