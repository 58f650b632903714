"""Retention: the manifests a repository's ``keep:`` policy lets go, and deleting them.

For each image of a repository with ``keep:``, the tags the registry lists are split into
Autobuild's (the tag-order record of :mod:`worker.tagorder` says a build pushed that tag with the
digest it has now) and everyone else's. The keep set is every tag a ``keep.tags`` pattern
matches plus the ``keep.last`` Autobuild tags pushed most recently. A manifest is deleted only
when Autobuild pushed it (:mod:`core.trust_store`), no kept tag points at it, and no tag pushed
from elsewhere points at it: what an operator pushed by hand is never touched. Its cosign
``.sig``/``.att`` manifests go with it. Deleting needs a registry started with
``REGISTRY_STORAGE_DELETE_ENABLED=true``; the space comes back with the registry's garbage
collection (docs/trust.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from buildrules.model import KeepPolicy, Repository
from core.cosign import COSIGN_TAG, cosign_tag
from core.registry_api import RegistryAPI, split_image
from core.store import tag_push_key
from core.trust_store import Pushed, TrustStore

LineFn = Callable[[str], None]


@dataclass(frozen=True)
class Deletion:
    digest: str
    tags: tuple[str, ...]  # the tags that point at it now (all Autobuild's)
    build_id: str


@dataclass(frozen=True)
class RetentionPlan:
    image: str
    kept_tags: tuple[str, ...]
    foreign_tags: tuple[str, ...]  # pushed from elsewhere: their manifests are never deleted
    deletions: tuple[Deletion, ...]


def tag_owner(connection: redis.Redis, image: str, tag: str, digest: str) -> str | None:
    """The build that pushed ``image:tag`` as ``digest``; None when Autobuild did not."""
    raw: Any = connection.get(tag_push_key(image, tag))
    if not raw:
        return None
    try:
        recorded = json.loads(raw)
    except ValueError:
        return None
    return str(recorded.get("build")) if recorded.get("digest") == digest else None


def image_tags(api: RegistryAPI, name: str) -> dict[str, str]:
    """Tag -> digest, for the tags that are images (not cosign's signature tags)."""
    found: dict[str, str] = {}
    for tag in sorted(api.tags(name)):
        if COSIGN_TAG.fullmatch(tag):
            continue
        digest = api.manifest_digest(name, tag)
        if digest is not None:
            found[tag] = digest
    return found


def _with_children(api: RegistryAPI, name: str, digests: set[str]) -> set[str]:
    """``digests`` and, for each index among them, its platform manifests."""
    result = set(digests)
    for digest in digests:
        manifest = api.get_manifest(name, digest)
        if manifest is not None and manifest.is_index:
            result.update(str(m.get("digest")) for m in manifest.json().get("manifests") or ())
    return result


def plan_image(
    api: RegistryAPI,
    connection: redis.Redis,
    image: str,
    policy: KeepPolicy,
) -> RetentionPlan:
    """What ``policy`` keeps and deletes of ``image`` now."""
    name = split_image(image)[1]
    pushed: dict[str, Pushed] = TrustStore(connection).pushed(image)
    tags = image_tags(api, name)
    ours = {t: d for t, d in tags.items() if d in pushed and tag_owner(connection, image, t, d)}
    foreign = sorted(set(tags) - set(ours))
    newest = sorted(ours, key=lambda t: (-pushed[ours[t]].pushed_at, t))
    kept = {t for t in tags if policy.matches(t)}
    kept.update(newest[: policy.last] if policy.last is not None else newest)
    protected = _with_children(api, name, {tags[t] for t in kept | set(foreign)})
    deletions = []
    for digest, record in sorted(pushed.items(), key=lambda item: item[1].pushed_at):
        if digest in protected:
            continue
        pointing = tuple(t for t, d in tags.items() if d == digest)
        if not pointing and api.manifest_digest(name, digest) is None:
            continue  # deleted meanwhile (or by hand): nothing to do
        deletions.append(Deletion(digest, pointing, record.build_id))
    return RetentionPlan(image, tuple(sorted(kept)), tuple(foreign), tuple(deletions))


def apply_plan(
    api: RegistryAPI, connection: redis.Redis, plan: RetentionPlan, on_line: LineFn
) -> int:
    """Delete what ``plan`` lets go (with its signature and provenance); returns how many."""
    name = split_image(plan.image)[1]
    store = TrustStore(connection)
    deleted = 0
    for deletion in plan.deletions:
        for suffix in ("sig", "att"):
            attached = api.manifest_digest(name, cosign_tag(deletion.digest, suffix))
            if attached is not None:
                api.delete_manifest(name, attached)
        gone = api.delete_manifest(name, deletion.digest)
        store.forget(plan.image, deletion.digest)
        if not gone:
            continue
        deleted += 1
        tags = ", ".join(deletion.tags) or "untagged"
        line = (
            f"{datetime.now(UTC).isoformat(timespec='seconds').replace('+00:00', 'Z')}"
            f" deleted {plan.image}@{deletion.digest} ({tags}; build {deletion.build_id})"
        )
        store.log_deletion(line)
        on_line(line)
    return deleted


def plan_repository(
    api_for: Callable[[str], RegistryAPI], connection: redis.Redis, repository: Repository
) -> list[RetentionPlan]:
    """A plan for each image of ``repository`` (none without ``keep:``)."""
    if repository.keep is None:
        return []
    plans = []
    for image in repository.images:
        with api_for(split_image(image)[0]) as api:
            plans.append(plan_image(api, connection, image, repository.keep))
    return plans
