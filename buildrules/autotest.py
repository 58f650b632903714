"""The repository key ``autotest: internal | all``: which pull requests are built.

``internal`` (the default, Docker Hub's "Internal pull requests") builds pull requests whose head
branch is in the repository itself; ``all`` ("Internal and external pull requests") builds those
from forks too. A fork's build gets nothing secret either way (see docs/autotest.md).
"""

from __future__ import annotations

from typing import Any

from buildrules.model import AUTOTEST_MODES
from buildrules.yamlnodes import Entry, NodeReader

AUTOTEST_KEYS = ("autotest",)


def read_autotest(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """``{"autotest": mode}`` when the key is written and valid, else ``{}``."""
    if "autotest" not in entries:
        return {}
    node = entries["autotest"].value
    value = reader.string(node, "autotest")
    if value is None:
        return {}
    mode = value.strip().lower()
    if mode not in AUTOTEST_MODES:
        reader.add(node, f"autotest must be one of {', '.join(AUTOTEST_MODES)}, not {value!r}")
        return {}
    return {"autotest": mode}
