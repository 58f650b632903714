"""``latest: auto``: the highest release each rule has queued, and adding ``latest`` to a plan.

Called by :func:`core.dispatch.dispatch` before the builds are recorded. For each plan of a rule
with ``latest: auto`` whose version is a release (``buildrules.latest``), the rule's highest
release so far is compared and, when this one is at least as high, replaced, in one WATCH
transaction: two pushes at the same instant cannot both see themselves as the highest unless
they are. "So far" is what Autobuild queued, not the registry's tags (docs/rules.md says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import redis

from buildrules.latest import Release, rule_release
from buildrules.model import BuildPlan, Repository
from core.base_images import rule_key_of

LATEST_TAG = "latest"
HIGHEST_KEY_PREFIX = "autobuild:highest-release:"


def highest_key(repository: Repository, index: int) -> str:
    return HIGHEST_KEY_PREFIX + rule_key_of(repository, repository.build_rules[index])


def claim_highest(connection: redis.Redis, key: str, release: Release) -> bool:
    """Record ``release`` as the highest under ``key`` when it is; True when it was."""
    with connection.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                stored = pipe.get(key)
                earlier = Release.loads(_text(stored)) if stored else None
                if earlier is not None and not release.at_least(earlier):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(key, release.dumps())
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def with_latest(
    connection: redis.Redis, repository: Repository, plans: Sequence[BuildPlan]
) -> list[BuildPlan]:
    """``plans``, each with ``latest`` added when a ``latest: auto`` rule of it is the highest
    release that rule has queued so far."""
    result: list[BuildPlan] = []
    for plan in plans:
        highest = False
        for index in plan.rule_indexes:
            if not 0 <= index < len(repository.build_rules):
                continue
            rule = repository.build_rules[index]
            if not rule.latest_auto:
                continue
            release = rule_release(rule, plan.source_type, plan.source_name)
            if release is not None and claim_highest(
                connection, highest_key(repository, index), release
            ):
                highest = True
        if highest and LATEST_TAG not in plan.docker_tags:
            plan = replace(plan, docker_tags=(*plan.docker_tags, LATEST_TAG))
        result.append(plan)
    return result
