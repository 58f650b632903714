"""Rebuilds when a base image changes (``rebuild_on_base_change: true``; docs/rebuilds.md).

:func:`remember_bases` runs after every successful build (the attest phase): it records, for each
literal-source rule of the build, every ``FROM`` image and the digest it resolved to
(:mod:`core.base_images`). :class:`BaseCheck` runs in every worker's housekeeping thread
(:mod:`worker.maintenance`); one of them per ``AUTOBUILD_BASE_CHECK_INTERVAL`` wins the claim in
Redis and asks each base image's registry (a ``HEAD`` of the manifest, with the configured
credentials) for its digest now. A rule whose last build used a digest that is no longer current
gets one build of its ref at the ref's current commit, with ``trigger: base_image`` and the old
and new digests as the first lines of its log; queuing it records the new digests, so the next
check does not ask again. An image the repository pushes itself is never a base that rebuilds it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import redis
import requests

from buildrules.matcher import plans_for_ref
from buildrules.model import BuildPlan, Config, Repository, SourceKind
from core.base_images import BaseImageStore, BaseUse, rule_key_of
from core.build import BuildRecord, Trigger, utcnow
from core.control import QueueFullError
from core.dispatch import dispatch
from core.logs import DEFAULT_MAX_LINES, DEFAULT_RETENTION_SECONDS
from core.masking import masker_for
from core.provenance import BaseImage
from core.queue import build_queue
from core.registry_api import (
    DIGEST_RE,
    RegistryAPI,
    RegistryAPIError,
    configured_credentials,
    split_image,
    split_reference,
)
from core.remote import RemoteError, list_remote_refs
from core.settings import Settings
from core.store import BuildStore, log_key

logger = logging.getLogger(__name__)
HEAD_TIMEOUT_SECONDS = 10.0


def remember_bases(
    connection: redis.Redis,
    repository: Repository,
    record: BuildRecord,
    bases: Sequence[BaseImage],
) -> None:
    """Record ``bases`` as the base images of each literal-source rule ``record`` built."""
    rules = [
        repository.build_rules[i]
        for i in record.rule_indexes
        if 0 <= i < len(repository.build_rules)
    ]
    keys = [rule_key_of(repository, r) for r in rules if r.source_kind is SourceKind.LITERAL]
    resolved = tuple((b.reference, b.digest) for b in bases if b.digest)
    BaseImageStore(connection).record(keys, BaseUse(record.id, record.commit, resolved))


def is_own_image(repository: Repository, reference: str) -> bool:
    """True when ``reference`` names an image ``repository`` pushes (any tag or digest)."""
    name = split_image(split_reference(reference)[0])
    return any(split_image(image) == name for image in repository.images)


@dataclass(frozen=True)
class BaseChange:
    """One ``FROM`` image whose digest moved since a rule's last build."""

    reference: str
    old: str
    new: str

    def describe(self) -> str:
        return f"Base image {self.reference} changed: it was {self.old}, it is now {self.new}"


class RegistryDigests:
    """The current digest of base image references, one HEAD per reference and check."""

    def __init__(self, config: Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._clients: dict[str, RegistryAPI] = {}
        self._digests: dict[str, str | None] = {}

    def digest(self, reference: str) -> str | None:
        """The registry's digest for ``reference`` now; None when it cannot tell."""
        if reference not in self._digests:
            self._digests[reference] = self._head(reference)
        return self._digests[reference]

    def _head(self, reference: str) -> str | None:
        name, tag = split_reference(reference)
        if DIGEST_RE.fullmatch(tag):
            return tag  # pinned by digest: it cannot change
        host, path = split_image(name)
        try:
            client = self._clients.get(host)
            if client is None:
                credentials = configured_credentials(self.config, self.settings, host)
                client = self._clients[host] = RegistryAPI(
                    host,
                    credentials,
                    HEAD_TIMEOUT_SECONDS,
                    insecure_registries=self.settings.insecure_registries,
                )
            return client.manifest_digest(path, tag)
        except (RegistryAPIError, requests.RequestException) as exc:
            logger.warning("base image check: %s: %s", reference, exc)
            return None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


class BaseCheck:
    """The periodic look at base images; see the module docstring."""

    def __init__(self, settings: Settings, config: Config, connection: redis.Redis) -> None:
        self.settings = settings
        self.config = config
        self.connection = connection
        self.bases = BaseImageStore(connection)
        self.holder = f"{socket.gethostname()}:{id(self)}"

    def run_if_due(self) -> tuple[BuildRecord, ...]:
        """:meth:`run` when this process wins this interval's claim, else nothing."""
        if not self.bases.claim_check(self.settings.base_check_interval_seconds, self.holder):
            return ()
        return self.run()

    def run(self) -> tuple[BuildRecord, ...]:
        """Queue a build of every rule whose base image changed; the builds queued."""
        digests = RegistryDigests(self.config, self.settings)
        queued: list[BuildRecord] = []
        try:
            for repository in self.config.repositories:
                changed = self._changed_rules(repository, digests)
                if changed:
                    queued += self._queue(repository, changed)
        finally:
            digests.close()
        return tuple(queued)

    def _changed_rules(
        self, repository: Repository, digests: RegistryDigests
    ) -> dict[int, tuple[BaseUse, tuple[BaseChange, ...]]]:
        changed: dict[int, tuple[BaseUse, tuple[BaseChange, ...]]] = {}
        for index, rule in enumerate(repository.build_rules):
            if rule.source_kind is not SourceKind.LITERAL:
                continue
            if not repository.rebuilds_on_base_change(rule):
                continue
            use = self.bases.get(rule_key_of(repository, rule))
            if use is None:
                continue
            changes = []
            for reference, old in use.bases:
                if is_own_image(repository, reference):
                    continue  # never a loop: our own image is not a base that rebuilds us
                new = digests.digest(reference)
                if new is not None and new != old:
                    changes.append(BaseChange(reference, old, new))
            if changes:
                changed[index] = (use, tuple(changes))
        return changed

    def _queue(
        self,
        repository: Repository,
        changed: dict[int, tuple[BaseUse, tuple[BaseChange, ...]]],
    ) -> list[BuildRecord]:
        masker = masker_for(self.settings, self.config)
        try:
            remote = list_remote_refs(repository.clone_url, masker, self.settings.environ)
        except RemoteError as exc:
            logger.warning("base image check: %s: %s", repository.name, exc)
            return []
        plans: list[BuildPlan] = []
        by_ref: dict[tuple[object, str], list[int]] = {}
        for index in changed:
            rule = repository.build_rules[index]
            by_ref.setdefault((rule.source_type, rule.source), []).append(index)
        for indexes in by_ref.values():
            rule = repository.build_rules[indexes[0]]
            commit = remote.commit(rule.source_type, rule.source)
            if commit:
                plans += plans_for_ref(
                    repository, rule.source_type, rule.source, commit, rule_indexes=indexes
                )
        if not plans:
            return []

        def first_lines(pipe: redis.client.Pipeline, records: Sequence[BuildRecord]) -> None:
            for record in records:
                changes = [c for i in record.rule_indexes for c in changed[i][1]]
                for change in dict.fromkeys(changes):
                    fields = {"t": utcnow().isoformat(), "l": change.describe()}
                    pipe.xadd(log_key(record.id), fields, maxlen=DEFAULT_MAX_LINES)  # type: ignore[arg-type]
                pipe.expire(log_key(record.id), DEFAULT_RETENTION_SECONDS)

        try:
            result = dispatch(
                BuildStore(self.connection),
                build_queue(self.connection, self.settings.queue_name),
                repository,
                plans,
                trigger=Trigger.BASE_IMAGE,
                delivery_id=None,
                max_queued=self.settings.max_queued_builds,
                write_also=first_lines,
            )
        except QueueFullError as full:  # the digests stay as they were: the next check asks again
            logger.warning("base image check: %s: %s", repository.name, full)
            return []
        for record in result.builds:
            self._remember_queued(repository, record, changed)
        return list(result.builds)

    def _remember_queued(
        self,
        repository: Repository,
        record: BuildRecord,
        changed: dict[int, tuple[BaseUse, tuple[BaseChange, ...]]],
    ) -> None:
        """The new digests are now what each rebuilt rule uses: one change, one build."""
        for index in record.rule_indexes:
            use, changes = changed[index]
            new = {c.reference: c.new for c in changes}
            bases = tuple((ref, new.get(ref, digest)) for ref, digest in use.bases)
            rule = repository.build_rules[index]
            self.bases.record(
                [rule_key_of(repository, rule)], BaseUse(record.id, record.commit, bases)
            )
