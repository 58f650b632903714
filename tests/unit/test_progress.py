"""A build record's phases and progress: what they hold and how they are stored and shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.build import BuildRecord
from core.events import RefType
from core.progress import PhaseRecord, PhaseStatus, Progress, StepProgress, TagPushed

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DIGEST = "sha256:" + "b" * 64


def record(**changes: object) -> BuildRecord:
    fields: dict[str, Any] = dict(
        id="b1", provider="github", repository="octo/app", source_type=RefType.BRANCH,
        source_name="master", commit="c" * 40, image="127.0.0.1:5000/octo/app",
        docker_tags=("latest",), dockerfile="Dockerfile", context="/",
    )  # fmt: skip
    fields.update(changes)
    return BuildRecord(**fields)


def test_a_new_record_has_no_phases_and_empty_progress_in_its_json():
    data = record().to_json()
    assert data["phases"] == []
    assert data["progress"] == {"steps": [], "pushed": []}


def test_phases_and_progress_survive_a_round_trip_through_the_store_format():
    phases = (
        PhaseRecord("clone", PhaseStatus.SUCCESS, T0, T0),
        PhaseRecord("build", PhaseStatus.RUNNING, T0),
        PhaseRecord("push", PhaseStatus.SKIPPED),
    )
    progress = Progress((StepProgress(2, 5),), (TagPushed("latest", DIGEST),))
    original = record(phases=phases, progress=progress)
    loaded = BuildRecord.loads(original.dumps())
    assert loaded.phases == phases
    assert loaded.progress == progress


def test_a_phase_is_shown_with_name_times_and_status():
    phase = PhaseRecord("build", PhaseStatus.RUNNING, T0).ended(PhaseStatus.FAILED, T0)
    assert phase.to_json() == {
        "name": "build",
        "started_at": "2026-01-02T03:04:05Z",
        "finished_at": "2026-01-02T03:04:05Z",
        "status": "failed",
    }
    assert PhaseRecord("push", PhaseStatus.SKIPPED).to_json()["started_at"] is None


def test_records_stored_before_phases_existed_load_with_none():
    data = record().to_json()
    del data["phases"], data["progress"]
    loaded = BuildRecord.loads(json.dumps(data))
    assert loaded.phases == () and loaded.progress == Progress()


def test_a_new_step_replaces_the_step_of_its_own_platform_only():
    progress = Progress().with_step(StepProgress(1, 3)).with_step(StepProgress(1, 4, "linux/arm64"))
    progress = progress.with_step(StepProgress(2, 3))
    assert progress.step() == StepProgress(2, 3)
    assert progress.step("linux/arm64") == StepProgress(1, 4, "linux/arm64")
    assert len(progress.steps) == 2


def test_a_tag_pushed_again_is_listed_once_with_its_latest_digest():
    other = "sha256:" + "c" * 64
    progress = (
        Progress().with_pushed(TagPushed("latest", DIGEST)).with_pushed(TagPushed("edge", DIGEST))
    )
    progress = progress.with_pushed(TagPushed("latest", other))
    assert sorted((p.tag, p.digest) for p in progress.pushed) == [
        ("edge", DIGEST),
        ("latest", other),
    ]
