"""Which worker ran a build attempt: its host name and the ID of the Docker daemon it built on.

Written into the build record when an attempt starts (``worker`` in the build JSON), and into the
worker's own entry in Redis (:mod:`core.workers`), so the build page and the workers page name the
same machine the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WorkerIdentity:
    host: str
    daemon: str | None = None  # ``docker info``'s ID; None when the daemon did not answer

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "daemon": self.daemon}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> WorkerIdentity | None:
        if not data:
            return None
        return cls(host=str(data.get("host") or ""), daemon=data.get("daemon") or None)
