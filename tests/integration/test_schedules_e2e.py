"""Scheduled builds end to end: two workers and two web processes, real git, Docker, registry.

The processes' schedule clock starts at a chosen time (AUTOBUILD_SCHEDULE_NOW) and they look at
it five times a second (AUTOBUILD_SCHEDULE_TICK), so a firing is due at once and the test never
waits for a real one. Between the two firings everything is stopped and the clock moved on three
days: the three missed firings build once.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from buildrules.loader import load
from core.build import BuildRecord, BuildStatus, Trigger
from core.masking import Masker
from core.queue import build_queue
from core.schedules import Clock, Scheduler
from core.settings import Settings
from core.store import BuildStore
from tests.integration.control_helpers import (
    WorkerProcess,
    dockerfile,
    repository_entry,
    wait_for,
    write_config,
)
from tests.integration.schedule_helpers import WebProcess, only_scheduled_rule, set_mark
from tests.integration.webhook_helpers import make_settings
from tests.integration.worker_helpers import registry_digest, unique_image

pytestmark = pytest.mark.integration

FIRST = datetime(2026, 12, 1, 3, 0, 5, tzinfo=UTC)  # 04:00:05 in Berlin: just after a firing
AFTER_OUTAGE = datetime(2026, 12, 4, 3, 30, tzinfo=UTC)  # the Dec 2, 3 and 4 firings missed


@contextlib.contextmanager
def everything(settings: Settings, logs: Path, round_: int) -> Iterator[list[WebProcess]]:
    """Two ``autobuild worker`` and two ``autobuild web`` processes on ``settings``."""
    with contextlib.ExitStack() as stack:
        webs = []
        for i in (1, 2):
            stack.enter_context(WorkerProcess(settings, logs / f"worker{i}-{round_}.log"))
            webs.append(stack.enter_context(WebProcess(settings, logs / f"web{i}-{round_}.log")))
        yield webs


def scheduled_builds(store: BuildStore, name: str) -> list[BuildRecord]:
    builds = store.recent(provider="github", repository=name, limit=50)
    return [b for b in builds if b.trigger is Trigger.SCHEDULE]


def another_scheduler(settings: Settings, connection: redis.Redis, now: datetime) -> Scheduler:
    """A scheduler as a further process would run it, its clock at ``now``."""
    queue = build_queue(connection, settings.queue_name)
    config = load(settings.config_path)
    return Scheduler(settings, config, connection, queue, Masker(), Clock(now))


def test_two_firings_build_exactly_twice_across_two_workers_and_two_webs(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo nightly")})
    name = f"octo/nightly-{uuid.uuid4().hex[:6]}"
    image = unique_image(registry_url, "schedule")
    entry = repository_entry(name, repo.url, image)
    entry["build_rules"] = [
        {
            "source_type": "branch",
            "source": "master",
            "docker_tag": ["nightly", "nightly-{date:%Y%m%d}", "c{commit_date:%Y%m%d%H%M}"],
            "schedule": {"cron": "0 4 * * *", "timezone": "Europe/Berlin"},
        }
    ]
    config = write_config(tmp_path, entry)

    def settings_at(now: datetime) -> Settings:
        return make_settings(
            config, redis_url, tmp_path, AUTOBUILD_SCHEDULE_NOW=now.isoformat(),
            AUTOBUILD_SCHEDULE_TICK="0.2", AUTOBUILD_QUEUE=f"schedule-{name[-6:]}",
        )  # fmt: skip

    store = BuildStore(clean_redis)

    def settled(count: int) -> list[BuildRecord] | None:
        builds = scheduled_builds(store, name)
        done = len(builds) >= count and all(b.status.terminal for b in builds)
        return builds if done else None

    first_settings = settings_at(FIRST)
    set_mark(clean_redis, only_scheduled_rule(first_settings), datetime(2026, 11, 30, tzinfo=UTC))
    with everything(first_settings, tmp_path, 1):
        (first,) = wait_for(lambda: settled(1), 120, "the first scheduled build")
        assert another_scheduler(first_settings, clean_redis, FIRST).tick() == []
    assert len(scheduled_builds(store, name)) == 1
    assert first.status is BuildStatus.SUCCESS, first.error
    assert first.commit == repo.head()
    committed = datetime.fromtimestamp(int(repo.git("log", "-1", "--format=%ct")), UTC)
    assert first.docker_tags == (
        "nightly",
        "nightly-20261201",
        f"c{committed.strftime('%Y%m%d%H%M')}",
    )

    # Everything down; three days of firings missed; a new commit meanwhile.
    newer = repo.commit({"README": "three days later"})
    later_settings = settings_at(AFTER_OUTAGE)
    with everything(later_settings, tmp_path, 2) as webs:
        builds = wait_for(lambda: settled(2), 120, "the second scheduled build")
        shown = [web.get(f"/api/v1/repositories/github/{name}").json() for web in webs]
        page = webs[0].get(f"/repositories/github/{name}").text
        assert another_scheduler(later_settings, clean_redis, AFTER_OUTAGE).tick() == []
    assert len(scheduled_builds(store, name)) == 2
    second = next(b for b in builds if b.id != first.id)
    assert second.status is BuildStatus.SUCCESS, second.error
    assert (second.commit, second.docker_tags[:2]) == (newer, ("nightly", "nightly-20261204"))
    for answer in shown:
        (schedule,) = answer["schedules"]
        assert schedule["next_firing"] == "2026-12-05T04:00:00+01:00"
        assert (schedule["cron"], schedule["timezone"]) == ("0 4 * * *", "Europe/Berlin")
    assert "next build 2026-12-05 04:00 CET" in page
    assert registry_digest(image, "nightly-20261201") is not None
    assert registry_digest(image, "nightly-20261204") == registry_digest(image, "nightly")
