"""A build's own output cannot pin its worker or fill Redis, on the real daemon: a ``RUN`` step
that prints a line of more than 1 MiB keeps the build's heartbeat alive and its log shows the line
cut at 16 KiB; a build past AUTOBUILD_LOG_MAX_BYTES stores one "Log truncated" line and nothing
more, while its output still counts for the no-output watchdog."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from core.loglines import CUT_MARKER, MAX_LINE_CHARS
from core.store import heartbeat_key
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

LONG_LINE = "RUN head -c 1200000 /dev/zero | tr '\\0' A; echo"


def run_watching_heartbeat(context, build_id: str) -> tuple[str, bool, list[float]]:
    """Run the build in a thread and poll its heartbeat meanwhile: its status, whether the
    heartbeat was seen, and the times it was missing while the build had not ended."""
    result: list[str] = []
    runner = threading.Thread(target=lambda: result.append(execute_build(context, build_id)))
    runner.start()
    seen = False
    lapses: list[float] = []
    while runner.is_alive():
        alive = bool(context.redis.exists(heartbeat_key(build_id)))
        seen = seen or alive
        if seen and not alive and not context.store.require(build_id).status.terminal:
            lapses.append(time.monotonic())
        runner.join(0.05)
    return (result or ["no result"])[0], seen, lapses


@pytest.mark.parametrize("builder", ["buildkit", "legacy"])
def test_a_step_printing_a_one_mib_line_keeps_the_heartbeat_and_the_line_is_cut(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, builder
):
    bust = uuid.uuid4().hex
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo {bust}\n{LONG_LINE}\n"})
    repository = make_repository(repo.url, unique_image(registry_url), builder=builder)
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={"AUTOBUILD_HEARTBEAT_SECONDS": "0.3"},
    )
    record = create_record(context.store, repository, repo.head())
    status, seen, lapses = run_watching_heartbeat(context, record.id)
    assert seen and not lapses  # the heartbeat (TTL 0.9 s) never lapsed while the build ran
    assert status == "success", context.store.require(record.id).error
    lines = log_text(clean_redis, record.id).splitlines()
    cut = [line for line in lines if line.endswith(CUT_MARKER)]
    assert len(cut) == 1 and "A" * 16_000 in cut[0]
    assert max(map(len, lines)) <= MAX_LINE_CHARS + len(CUT_MARKER) + 1


def test_a_log_past_its_byte_cap_stops_while_the_output_still_feeds_the_watchdog(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    slow_lines = (
        "for i in $(seq 10); do head -c 1000 /dev/zero | tr '\\0' x; echo \" $i\"; sleep 0.4; done"
    )
    repo = make_git_repo(
        {"Dockerfile": f"FROM {base_image}\nRUN {slow_lines}; echo {uuid.uuid4().hex}\n"}
    )
    repository = make_repository(
        repo.url, unique_image(registry_url), builder="legacy", no_output_timeout_seconds=2
    )
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository], environ={"AUTOBUILD_LOG_MAX_BYTES": "8000"}
    )
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "success"  # 4 s of output, 2 s watchdog
    log = log_text(clean_redis, record.id)
    assert log.endswith("Log truncated at 8000 bytes: later lines are not stored")
    assert " 10" not in log.splitlines()[-2]
    assert len(log.encode()) < 8000 + 100
