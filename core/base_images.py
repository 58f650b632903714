"""The base images each literal-source rule was last built from, and the claim on each check.

A successful build records, for each of its literal-source rules, every ``FROM`` image it resolved
and the digest it resolved to (``worker/phases/attest.py``). The periodic check
(``worker/basecheck.py``) compares those digests with the registry's and rebuilds a rule whose
base changed; queuing that build records the new digests at once, so one change asks for one
build. All rules live in one hash, ``autobuild:base-images``, one field per rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from buildrules.model import BuildRule, Repository

BASES_KEY = "autobuild:base-images"
CHECK_CLAIM_KEY = "autobuild:base-check:claim"


def rule_key(provider: str, repository: str, source_type: str, source: str, image: str) -> str:
    """The field of one rule: a rule is its repository, ref and image (not its position)."""
    return json.dumps([provider, repository.lower(), source_type, source, image])


def rule_key_of(repository: Repository, rule: BuildRule) -> str:
    """:func:`rule_key` of one of ``repository``'s rules."""
    return rule_key(
        repository.provider,
        repository.name,
        rule.source_type.value,
        rule.source,
        repository.image_for(rule),
    )


@dataclass(frozen=True)
class BaseUse:
    """The base images of one rule's last build: (reference, digest) pairs in Dockerfile order."""

    build_id: str
    commit: str
    bases: tuple[tuple[str, str], ...]

    def dumps(self) -> str:
        return json.dumps({"build_id": self.build_id, "commit": self.commit, "bases": self.bases})

    @classmethod
    def loads(cls, text: str | bytes) -> BaseUse:
        data = json.loads(text)
        bases = tuple((str(ref), str(digest)) for ref, digest in data.get("bases") or ())
        return cls(str(data["build_id"]), str(data["commit"]), bases)


class BaseImageStore:
    """Reads and writes the recorded base images, and claims the periodic check."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def record(self, keys: list[str], use: BaseUse) -> None:
        if keys:
            self.redis.hset(BASES_KEY, mapping=dict.fromkeys(keys, use.dumps()))

    def get(self, key: str) -> BaseUse | None:
        raw = self.redis.hget(BASES_KEY, key)
        return None if raw is None else BaseUse.loads(raw)

    def claim_check(self, interval_seconds: float, holder: str) -> bool:
        """True for exactly one caller per ``interval_seconds``, across every process."""
        milliseconds = max(int(interval_seconds * 1000), 1)
        return bool(self.redis.set(CHECK_CLAIM_KEY, holder, nx=True, px=milliseconds))
