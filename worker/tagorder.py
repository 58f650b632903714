"""Tags never move backwards: a build of an older commit does not overwrite a branch tag that a
newer commit's build of the same ref already pushed.

For every tag it pushes, a build holds ``tag_lock_key(image, tag)`` (a lease renewed with its
heartbeat, so a killed worker frees it within seconds) while it checks, pushes, verifies and
records the tag in ``tag_push_key(image, tag)``: which build pushed it, of which ref and commit,
and the build's queue time. A branch build skips a tag whose last push was by a build of the same
ref and another commit queued after it. Holding the lock from the check to the record means two
builds of one ref can never push a tag out of order, even with ``max_concurrent_builds`` above 1.

"Newer" is decided by the commits first: when the mirror knows both (``ancestry``, asked with
``git merge-base --is-ancestor``), a build whose commit is an ancestor of the tag's last pushed
commit skips the tag as superseded, and one whose commit descends from it pushes. Only when
the mirror cannot tell (it lacks a commit, or history was rewritten) is it the queue time
(``created_at``) of the build, or of the build it retries (a manual retry of an old build is
still the old commit). So a replayed old delivery, queued last, still cannot move a tag back.
Builds of a git tag, and builds of another ref that happen to push the same Docker tag, are
never skipped.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from core.build import BuildRecord
from core.events import RefType
from core.store import BuildStore, tag_lock_key, tag_push_key
from worker import leases
from worker.deadline import Deadline
from worker.fence import Lease
from worker.watch import BuildWatcher

# Whether the first commit is the second or one of its ancestors; None: cannot tell.
Ancestry = Callable[[str, str], bool | None]

TAG_RECORD_TTL_SECONDS = 180 * 24 * 3600
LOCK_POLL_SECONDS = 0.2
MAX_RETRY_CHAIN = 50


def queue_time(store: BuildStore, record: BuildRecord) -> float:
    """When the build's plan was first queued: its own ``created_at``, or that of the build it
    retries (and so on)."""
    root = record
    for _ in range(MAX_RETRY_CHAIN):
        if not root.retry_of:
            break
        parent = store.get(root.retry_of)
        if parent is None:
            break
        root = parent
    return root.created_at.timestamp()


class TagGuard:
    """Claims, checks and records each tag a build pushes (see the module docstring)."""

    def __init__(
        self,
        store: BuildStore,
        record: BuildRecord,
        deadline: Deadline,
        watcher: BuildWatcher | None,
        log: Callable[[str], None],
        *,
        lock_ttl_seconds: float = 30.0,
        ancestry: Ancestry | None = None,
    ) -> None:
        self.connection: redis.Redis = store.redis
        self.record = record
        self.deadline = deadline
        self.watcher = watcher
        self.log = log
        self.lock_ttl_seconds = lock_ttl_seconds
        self.ancestry = ancestry
        self.token = f"{record.id}:{record.attempt}"
        self.ordering = queue_time(store, record)
        self._claimed: dict[str, Lease] = {}

    def held(self) -> tuple[Lease, ...]:
        """The tag locks this build holds now: the fence before a push checks them too."""
        return tuple(self._claimed.values())

    @property
    def ref(self) -> str:
        return f"{self.record.source_type.value}:{self.record.source_name}"

    @contextlib.contextmanager
    def claim(self, tag: str) -> Iterator[str | None]:
        """Hold the tag; yields None to push it, or the log line saying why it is skipped."""
        key = tag_lock_key(self.record.image, tag)
        reference = f"{self.record.image}:{tag}"
        waiting = False
        while not leases.acquire(self.connection, key, self.token, self.lock_ttl_seconds):
            if not waiting:
                holder: Any = self.connection.get(key)
                who = holder.decode().split(":")[0] if holder else "another build"
                self.log(f"Waiting for build {who} to finish pushing {reference}")
                waiting = True
            self.deadline.touch()  # waiting for another build is not this build's silence
            self.deadline.check(f"waiting to push {reference}")
            time.sleep(LOCK_POLL_SECONDS)
        if self.watcher is not None:
            self.watcher.hold(key, self.token)
        self._claimed[tag] = Lease(key, self.token)
        try:
            yield self.skip_reason(tag)
        finally:
            self._claimed.pop(tag, None)
            if self.watcher is not None:
                self.watcher.let_go(key)
            leases.release(self.connection, key, self.token)

    def skip_reason(self, tag: str) -> str | None:
        if self.record.source_type is not RefType.BRANCH:
            return None
        raw: Any = self.connection.get(tag_push_key(self.record.image, tag))
        if not raw:
            return None
        last = json.loads(raw)
        if last.get("ref") != self.ref or last.get("commit") == self.record.commit:
            return None
        pushed = str(last.get("commit", ""))
        newer = self._pushed_is_newer(pushed, float(last.get("queued", 0)))
        if newer is None:
            return None
        return (
            f"Skipped {self.record.image}:{tag}: build {last.get('build')} of the newer commit"
            f" {pushed[:7]} on {self.record.source_name} already pushed it{newer}"
        )

    def _pushed_is_newer(self, pushed: str, queued: float) -> str | None:
        """Whether the tag's last push (``pushed`` commit, queued at ``queued``) is newer than
        this build (None: it is not; else words to add to the log line): the commit graph when
        the mirror knows, else queue time."""
        ours = self.record.commit
        if self.ancestry is not None:
            if self.ancestry(ours, pushed):
                return f" (it descends from {ours[:7]})"
            if self.ancestry(pushed, ours):
                return None
        return "" if queued > self.ordering else None

    def record_push(self, tag: str, digest: str) -> None:
        value = {
            "build": self.record.id,
            "ref": self.ref,
            "commit": self.record.commit,
            "queued": self.ordering,
            "digest": digest,
        }
        self.connection.set(
            tag_push_key(self.record.image, tag), json.dumps(value), ex=TAG_RECORD_TTL_SECONDS
        )
