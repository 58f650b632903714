"""The ``builder`` and ``platforms`` keys (a repository's, a rule's or ``defaults:``).

``builder: buildkit | legacy`` picks the Docker daemon's builder (default buildkit);
``platforms: [linux/amd64, linux/arm64]`` builds one image per platform and pushes an image index
(default: none, one image for the worker's own platform). A rule's value (or its ``defaults:``)
wins over the repository's.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from buildrules.runson import RUNS_ON_KEY, read_runs_on
from buildrules.yamlnodes import Entry, NodeReader

BUILDERS = ("buildkit", "legacy")
DEFAULT_BUILDER = "buildkit"
BUILDER_KEYS = ("builder", "platforms", RUNS_ON_KEY)  # runs_on: buildrules.runson
# os/architecture[/variant], as OCI image indexes name them: linux/amd64, linux/arm/v7
_PLATFORM_RE = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")


def check_platform(value: str) -> str:
    """A platform in normal form (``linux/arm64``), or ValueError."""
    platform = value.strip().lower()
    if not _PLATFORM_RE.fullmatch(platform):
        raise ValueError(
            f"platform {value!r} must be os/architecture[/variant],"
            " like linux/amd64 or linux/arm/v7"
        )
    return platform


def read_builder_keys(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """``builder``, ``platforms`` and ``runs_on`` where written, checked (a key with a problem is
    left out):
    ``{"builder": "legacy", "platforms": ("linux/amd64", "linux/arm64")}``."""
    found: dict[str, Any] = {}
    if "builder" in entries:
        node = entries["builder"].value
        builder = reader.string(node, "builder")
        if builder is not None and builder.strip().lower() not in BUILDERS:
            reader.add(node, f"builder must be one of {', '.join(BUILDERS)}, not {builder!r}")
        elif builder is not None:
            found["builder"] = builder.strip().lower()
    if "platforms" in entries:
        platforms = _platforms(reader, entries["platforms"].value)
        if platforms is not None:
            found["platforms"] = platforms
    found.update(read_runs_on(reader, entries))
    return found


def _platforms(reader: NodeReader, node: yaml.Node) -> tuple[str, ...] | None:
    platforms = reader.checked_list(
        node,
        "platforms",
        "a platform",
        check_platform,
        twice=lambda platform: f"platform {platform} is listed twice",
    )
    if platforms == ():
        reader.add(node, "platforms must list at least one platform, like [linux/amd64]")
        return None
    return platforms
