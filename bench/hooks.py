"""Signed GitHub push deliveries, and waiting for what they cause."""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from bench.images import RegistryHttp
from bench.procs import PROJECT_ROOT
from core.build import BuildRecord, BuildStatus
from core.store import BuildStore

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "webhooks" / "github" / "push-branch-update.json"
ZERO = "0" * 40


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_payload(
    repository: str, ref: str, before: str, after: str, changed: Sequence[str]
) -> dict[str, Any]:
    """A real GitHub push delivery (the fixture, about 8 KB) rewritten for this push."""
    payload: dict[str, Any] = copy.deepcopy(_template())
    payload.update({"ref": ref, "before": before, "after": after, "created": before == ZERO})
    owner, _, name = repository.partition("/")
    payload["repository"].update({"full_name": repository, "name": name})
    payload["repository"]["owner"].update({"name": owner, "login": owner})
    commit = payload["head_commit"]
    commit.update({"id": after, "added": [], "removed": [], "modified": list(changed)})
    payload["commits"] = [commit]
    return payload


_TEMPLATE: dict[str, Any] | None = None


def _template() -> dict[str, Any]:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = json.loads(FIXTURE.read_text())
    return _TEMPLATE


def github_headers(secret: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
    }


class WebhookClient:
    """Sends deliveries to one web server on a kept-alive connection."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.secret = secret
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request("POST", "/webhooks/github", body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                return response.status, json.loads(data or b"{}")
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def push(
        self, repository: str, branch: str, before: str, after: str, changed: Sequence[str]
    ) -> list[str]:
        """Deliver a push; returns the ids of the builds it queued (202 expected)."""
        body = json.dumps(
            push_payload(repository, f"refs/heads/{branch}", before, after, changed)
        ).encode()
        status, answer = self.post(body, github_headers(self.secret, body))
        if status != 202:
            raise RuntimeError(f"webhook for {repository} {after[:7]} answered {status}: {answer}")
        return [build["id"] for build in answer["builds"]]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class BuildFailedError(RuntimeError):
    pass


@dataclass(frozen=True)
class Arrival:
    """When a build's image reached the registry (perf_counter seconds) and its record."""

    digest_at: float
    done_at: float
    record: BuildRecord


def wait_for_build(
    store: BuildStore,
    registry: RegistryHttp,
    image_path: str,
    tag: str,
    build_id: str,
    previous_digest: str | None,
    timeout: float = 600.0,
    poll: float = 0.02,
) -> Arrival:
    """Poll the registry until ``image_path:tag`` changes from ``previous_digest`` (the moment the
    image is there), then wait for the build's record to end; it must be ``success`` with that
    digest."""
    end = time.perf_counter() + timeout
    digest_at: float | None = None
    seen: str | None = previous_digest
    last_check = 0.0
    while time.perf_counter() < end:
        now = time.perf_counter()
        if digest_at is None:
            current = registry.digest(image_path, tag, polling=True)
            if current is not None and current != previous_digest:
                digest_at, seen = time.perf_counter(), current
        if digest_at is not None or now - last_check > 0.25:
            last_check = now
            record = store.get(build_id)
            if record is not None and record.status.terminal:
                done_at = time.perf_counter()
                if record.status is not BuildStatus.SUCCESS:
                    raise BuildFailedError(
                        f"build {build_id} ended {record.status.value}: {record.error}"
                    )
                if digest_at is None:  # it finished between two polls
                    digest_at, seen = done_at, registry.digest(image_path, tag)
                if record.digest != seen:
                    raise BuildFailedError(
                        f"build {build_id} recorded {record.digest}, registry shows {seen}"
                    )
                return Arrival(digest_at, done_at, record)
        time.sleep(poll)
    raise BuildFailedError(f"build {build_id} did not finish within {timeout:.0f} s")


def wait_terminal(
    store: BuildStore, build_ids: Sequence[str], timeout: float = 600.0
) -> list[BuildRecord]:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        records = store.get_many(list(build_ids))
        if len(records) == len(build_ids) and all(r.status.terminal for r in records):
            return records
        time.sleep(0.05)
    raise BuildFailedError(f"builds did not end within {timeout:.0f} s")


def store_for(url: str) -> BuildStore:
    return BuildStore(redis.Redis.from_url(url))
