"""The repository keys about what a build fetches: ``submodules``, ``ssh_key_env`` and ``pull``.

``submodules: false | true | recursive`` (default false) exports the submodules the commit pins
(``true``: the first level, ``recursive``: nested ones too); ``ssh_key_env`` names the worker's
environment variable holding a private SSH deploy key for the repository's (and its submodules')
git fetches; ``pull: true`` pulls every ``FROM`` image fresh before a build (default false: the
daemon's copy is used when it has one).
"""

from __future__ import annotations

from typing import Any

import yaml

from buildrules.values import check_env_name
from buildrules.yamlnodes import Entry, NodeReader

SUBMODULE_MODES = ("false", "true", "recursive")
SOURCE_KEYS = ("submodules", "ssh_key_env", "pull")
_BOOL_TAG = "tag:yaml.org,2002:bool"


def read_source_keys(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """``submodules``, ``ssh_key_env`` and ``pull`` where written, checked (a key with a problem
    is left out): ``{"submodules": "recursive", "ssh_key_env": "DEPLOY_KEY", "pull": True}``."""
    found: dict[str, Any] = {}
    if "submodules" in entries:
        mode = _submodules(reader, entries["submodules"].value)
        if mode is not None:
            found["submodules"] = mode
    if "ssh_key_env" in entries:
        node = entries["ssh_key_env"].value
        name = reader.string(node, "ssh_key_env")
        if name is not None:
            try:
                found["ssh_key_env"] = check_env_name(name.strip(), "ssh_key_env")
            except ValueError as exc:
                reader.add(node, str(exc))
    if "pull" in entries:
        flag = reader.boolean(entries["pull"].value, "pull")
        if flag is not None:
            found["pull"] = flag
    return found


def _submodules(reader: NodeReader, node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
        flag = reader.boolean(node, "submodules")
        return None if flag is None else str(flag).lower()
    text = reader.string(node, "submodules")
    if text is None:
        return None
    if text.strip().lower() not in SUBMODULE_MODES:
        reader.add(node, f"submodules must be false, true or recursive, not {text!r}")
        return None
    return text.strip().lower()
