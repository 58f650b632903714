"""The targets a build notifies: the commit status (with ``status: true``) and every ``notify:``
entry of its repository and of the top level, each with a stable key and a label safe to show."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from buildrules.model import Config, NotifyTarget, Repository
from core.build import BuildRecord

STATUS_KEY = "status"


@dataclass(frozen=True)
class Target:
    key: str  # stable across restarts and reordering: "status", "webhook-<hash>", ...
    kind: str  # status | webhook | apprise
    label: str  # never holds a secret: no URL path or query, no apprise URL
    entry: NotifyTarget | None = None  # None: the commit status

    def wants(self, event: str, record: BuildRecord) -> bool:
        if self.entry is None:
            return True
        return event in self.entry.events and self.entry.wants_ref(
            record.source_type, record.source_name
        )


def display_url(url: str) -> str:
    """``scheme://host[:port]/…``: a webhook URL's path and query often hold a token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def target_of(entry: NotifyTarget) -> Target:
    if entry.apprise_env:
        key = f"apprise-{_digest(entry.apprise_env, *entry.events)}"
        return Target(key, "apprise", f"apprise (${entry.apprise_env})", entry)
    assert entry.url, "the loader requires url or apprise_env"
    key = f"webhook-{_digest(entry.url, entry.format, *entry.events)}"
    label = display_url(entry.url) + (" (Docker Hub format)" if entry.format == "dockerhub" else "")
    return Target(key, "webhook", label, entry)


def targets_for(config: Config, repository: Repository) -> list[Target]:
    """Every target of the repository's builds, commit status first; one per distinct key."""
    targets: list[Target] = []
    if repository.status:
        targets.append(Target(STATUS_KEY, "status", f"{repository.provider} commit status"))
    targets += [target_of(entry) for entry in config.notify_targets(repository)]
    return list({t.key: t for t in targets}.values())
