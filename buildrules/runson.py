"""The ``runs_on`` key (a repository's, a rule's or ``defaults:``): the worker labels a build
needs, like ``runs_on: [big-memory]``.

A build is only taken by a worker started with each of its labels (``autobuild worker --label
big-memory``) and, with ``platforms:``, able to run each of its platforms (core.capabilities).
A rule's value (or its ``defaults:``) replaces the repository's; ``runs_on: []`` in a rule needs
no label even where the repository names some.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from buildrules.yamlnodes import Entry, NodeReader

RUNS_ON_KEY = "runs_on"
# Lowercase letters, digits, '.', '_' and '-' (no '/': that is a platform's; no ',' or ':': they
# separate the needs in a queue's name).
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?")


def check_label(value: str) -> str:
    """A worker label in normal form (``big-memory``), or ValueError."""
    label = value.strip().lower()
    if not _LABEL_RE.fullmatch(label):
        raise ValueError(
            f"label {value!r} must be lowercase letters, digits, '.', '_' and '-' (at most 63,"
            " starting and ending with a letter or digit), like big-memory"
        )
    return label


def read_runs_on(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """``{"runs_on": ("big-memory",)}`` where written and valid, else ``{}`` (its problem added)."""
    if RUNS_ON_KEY not in entries:
        return {}
    labels = _labels(reader, entries[RUNS_ON_KEY].value)
    return {} if labels is None else {RUNS_ON_KEY: labels}


def _labels(reader: NodeReader, node: yaml.Node) -> tuple[str, ...] | None:
    return reader.checked_list(
        node,
        RUNS_ON_KEY,
        "a runs_on label",
        check_label,
        error_prefix="runs_on ",
        twice=lambda label: f"runs_on lists label {label} twice",
    )
