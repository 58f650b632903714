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


@dataclass(frozen=True)
class Attestation:
    build_id: str
    image: str
    digests: tuple[str, ...]
    signed: bool
    statement: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "build_id": self.build_id,
            "image": self.image,
            "digests": list(self.digests),
            "signed": self.signed,
            "statement": self.statement,
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
        )

    def pushed(self, image: str) -> dict[str, str]:
        """Every digest Autobuild pushed to ``image`` -> the build that pushed it."""
        raw: Any = self.redis.hgetall(pushed_by_key(image))
        return {_text(k): _text(v) for k, v in raw.items()}

    def forget(self, image: str, digest: str) -> None:
        """After a delete: the digest is no longer in the registry."""
        pipe = self.redis.pipeline()
        pipe.zrem(pushed_key(image), digest)
        pipe.hdel(pushed_by_key(image), digest)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
