"""What Autobuild pushed, and the provenance it stated, kept in Redis beside the build records.

Per image, the manifests Autobuild pushed (digest -> build id, and when): the Images page tells
its own tags from ones pushed from elsewhere with it, and retention deletes only these. Per
build, the provenance statement as pushed and whether it was signed (the API serves it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from core.store import PREFIX

RECORD_TTL_SECONDS = 180 * 24 * 3600  # as long as the tag-order records


def provenance_key(build_id: str) -> str:
    return f"{PREFIX}provenance:{build_id}"


def pushed_key(image: str) -> str:
    """Digests Autobuild pushed to ``image``, scored by when (epoch seconds)."""
    return f"{PREFIX}pushed:{image}"


def pushed_by_key(image: str) -> str:
    """Digest -> the id of the build that (last) pushed it."""
    return f"{PREFIX}pushed-by:{image}"


RETENTION_LOG = f"{PREFIX}retention:log"
RETENTION_LOG_LINES = 1000


@dataclass(frozen=True)
class Pushed:
    build_id: str
    pushed_at: float  # epoch seconds


@dataclass(frozen=True)
class Attestation:
    build_id: str
    image: str
    digests: tuple[str, ...]
    signed: bool
    statement: dict[str, Any]
    dockerfile: str = ""  # the Dockerfile built, as the build context held it

    def to_json(self) -> dict[str, Any]:
        return {
            "build_id": self.build_id,
            "image": self.image,
            "digests": list(self.digests),
            "signed": self.signed,
            "statement": self.statement,
            "dockerfile": self.dockerfile,
        }


class TrustStore:
    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def record(self, attestation: Attestation, pushed_at: datetime) -> None:
        """Remember a build's pushed digests and its provenance."""
        pipe = self.redis.pipeline()
        pipe.set(
            provenance_key(attestation.build_id),
            json.dumps(attestation.to_json()),
            ex=RECORD_TTL_SECONDS,
        )
        for digest in attestation.digests:
            pipe.zadd(pushed_key(attestation.image), {digest: pushed_at.timestamp()})
            pipe.hset(pushed_by_key(attestation.image), digest, attestation.build_id)
        pipe.execute()

    def attestation(self, build_id: str) -> Attestation | None:
        raw: Any = self.redis.get(provenance_key(build_id))
        if not raw:
            return None
        data = json.loads(raw)
        return Attestation(
            build_id=data["build_id"],
            image=data["image"],
            digests=tuple(data["digests"]),
            signed=bool(data["signed"]),
            statement=data["statement"],
            dockerfile=data.get("dockerfile", ""),
        )

    def pushed(self, image: str) -> dict[str, Pushed]:
        """Every digest Autobuild pushed to ``image`` (and has not deleted since)."""
        pipe = self.redis.pipeline()
        pipe.hgetall(pushed_by_key(image))
        pipe.zrange(pushed_key(image), 0, -1, withscores=True)
        builds, times = pipe.execute()
        when = {_text(digest): float(score) for digest, score in times}
        return {
            _text(digest): Pushed(_text(build), when.get(_text(digest), 0.0))
            for digest, build in builds.items()
        }

    def log_deletion(self, line: str) -> None:
        """Keep the last lines of what retention deleted (the Images page shows them)."""
        pipe = self.redis.pipeline()
        pipe.lpush(RETENTION_LOG, line)
        pipe.ltrim(RETENTION_LOG, 0, RETENTION_LOG_LINES - 1)
        pipe.execute()

    def deletions(self, limit: int = 50) -> list[str]:
        raw: Any = self.redis.lrange(RETENTION_LOG, 0, limit - 1)
        return [_text(line) for line in raw]

    def forget(self, image: str, digest: str) -> None:
        """After a delete: the digest is no longer in the registry."""
        pipe = self.redis.pipeline()
        pipe.zrem(pushed_key(image), digest)
        pipe.hdel(pushed_by_key(image), digest)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
