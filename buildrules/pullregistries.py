"""The repository key ``pull_registries: [host, ...]``: the registries, besides its own push
registries, whose credentials its builds receive (for private ``FROM`` / ``COPY --from``
images). A build is never sent another registry's credentials."""

from __future__ import annotations

from typing import Any

from buildrules.values import check_registry_host
from buildrules.yamlnodes import Entry, NodeReader

PULL_REGISTRIES_KEY = "pull_registries"


def read_pull_registries(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """``{"pull_registries": ("registry.example.com", ...)}`` where written and sound."""
    if PULL_REGISTRIES_KEY not in entries:
        return {}
    node = entries[PULL_REGISTRIES_KEY].value
    items = reader.sequence(node, PULL_REGISTRIES_KEY)
    if items is None:
        return {}
    hosts: list[str] = []
    for item in items:
        text = reader.string(item, "a pull registry")
        if text is None:
            return {}
        try:
            host = check_registry_host(text)
        except ValueError as exc:
            reader.add(item, f"pull_registries: {exc}")
            return {}
        if host in hosts:
            reader.add(item, f"pull_registries lists {host} twice")
            return {}
        hosts.append(host)
    return {"pull_registries": tuple(hosts)}
