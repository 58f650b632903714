"""The build record: one build of one commit, tagged many times, as stored and as shown."""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from core.events import PullRequest, RefType
from core.progress import PhaseRecord, Progress
from core.progress import iso_time as _iso
from core.progress import parse_time as _parse_iso
from core.workerid import WorkerIdentity


class BuildStatus(enum.StrEnum):
    QUEUED = "queued"
    CLONING = "cloning"
    BUILDING = "building"
    PUSHING = "pushing"
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"
    SUPERSEDED = "superseded"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def running(self) -> bool:
        return self in RUNNING_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        BuildStatus.SUCCESS,
        BuildStatus.FAILED,
        BuildStatus.ERROR,
        BuildStatus.TIMED_OUT,
        BuildStatus.CANCELED,
        BuildStatus.SUPERSEDED,
    }
)
RUNNING_STATUSES = frozenset({BuildStatus.CLONING, BuildStatus.BUILDING, BuildStatus.PUSHING})


class Trigger(enum.StrEnum):
    WEBHOOK = "webhook"
    MANUAL = "manual"
    SCHEDULE = "schedule"  # a rule's schedule fired (core/schedules.py)
    BASE_IMAGE = "base_image"  # a base image of the last build changed (worker/basecheck.py)
    PULL_REQUEST = "pull_request"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_build_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class BuildRecord:
    id: str
    provider: str
    repository: str
    source_type: RefType
    source_name: str
    commit: str
    image: str
    docker_tags: tuple[str, ...]
    dockerfile: str
    context: str
    status: BuildStatus = BuildStatus.QUEUED
    trigger: Trigger = Trigger.WEBHOOK
    build_args: tuple[tuple[str, str], ...] = ()
    build_caching: bool = True
    rule_indexes: tuple[int, ...] = ()
    delivery_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    digest: str | None = None
    image_id: str | None = None
    error: str | None = None
    attempt: int = 1
    retry_of: str | None = None
    skipped_tags: tuple[str, ...] = ()  # not pushed: a newer commit's build had pushed them
    phases: tuple[PhaseRecord, ...] = ()  # this attempt's phases so far (core.progress)
    progress: Progress = field(default_factory=Progress)  # step N of M, tags pushed
    platforms: tuple[str, ...] = ()  # a multi-platform build's platforms (digest: its index)
    platform_digests: tuple[tuple[str, str], ...] = ()  # (platform, manifest digest) pushed
    push: bool = True  # false: built (and tested), nothing pushed
    pull_request: PullRequest | None = None  # set for a pull request build
    worker: WorkerIdentity | None = None  # the host and daemon running this attempt
    needs: tuple[str, ...] = ()  # platforms and labels its worker must offer (core.capabilities)

    def with_changes(self, **changes: Any) -> BuildRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The build as the API shows it (and as it is stored)."""
        data = dict(vars(self))  # every field, in order (asdict deep-copies: 4x slower)
        data["source_type"] = self.source_type.value
        data["status"] = self.status.value
        data["trigger"] = self.trigger.value
        data["docker_tags"] = list(self.docker_tags)
        data["build_args"] = dict(self.build_args)
        data["rule_indexes"] = list(self.rule_indexes)
        data["skipped_tags"] = list(self.skipped_tags)
        data["platforms"] = list(self.platforms)
        data["platform_digests"] = dict(self.platform_digests)
        data["created_at"] = _iso(self.created_at)
        data["started_at"] = _iso(self.started_at)
        data["finished_at"] = _iso(self.finished_at)
        data["phases"] = [phase.to_json() for phase in self.phases]
        data["progress"] = self.progress.to_json()
        data["pull_request"] = self.pull_request.to_json() if self.pull_request else None
        data["worker"] = self.worker.to_json() if self.worker else None
        data["needs"] = list(self.needs)
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def loads(cls, text: str | bytes) -> BuildRecord:
        data = json.loads(text)
        return cls(
            id=data["id"],
            provider=data["provider"],
            repository=data["repository"],
            source_type=RefType(data["source_type"]),
            source_name=data["source_name"],
            commit=data["commit"],
            image=data["image"],
            docker_tags=tuple(data["docker_tags"]),
            dockerfile=data["dockerfile"],
            context=data["context"],
            status=BuildStatus(data["status"]),
            trigger=Trigger(data["trigger"]),
            build_args=tuple(data.get("build_args", {}).items()),
            build_caching=data.get("build_caching", True),
            rule_indexes=tuple(data.get("rule_indexes", ())),
            delivery_id=data.get("delivery_id"),
            created_at=_parse_iso(data["created_at"]) or utcnow(),
            started_at=_parse_iso(data.get("started_at")),
            finished_at=_parse_iso(data.get("finished_at")),
            digest=data.get("digest"),
            image_id=data.get("image_id"),
            error=data.get("error"),
            attempt=data.get("attempt", 1),
            retry_of=data.get("retry_of"),
            skipped_tags=tuple(data.get("skipped_tags", ())),
            phases=tuple(PhaseRecord.from_json(phase) for phase in data.get("phases", ())),
            progress=Progress.from_json(data.get("progress")),
            platforms=tuple(data.get("platforms", ())),
            platform_digests=tuple(data.get("platform_digests", {}).items()),
            push=data.get("push", True),
            pull_request=PullRequest.from_json(data.get("pull_request")),
            worker=WorkerIdentity.from_json(data.get("worker")),
            needs=tuple(data.get("needs", ())),
        )
