"""``burst``: twenty pushes to one branch within two seconds.

Each push moves ``master`` in the served repository to the next commit (each changes one source
file) and delivers its signed webhook. Two bursts, on an idle, warm worker: the pushes spread over
the two seconds (one every 0.1 s; the ratio and the target count use this one), and the pushes as
fast as a script sends them. Counted: how many builds actually ran (a worker started them; the
others were superseded while queued), and the time from the first push until the last commit's
image is in the registry, divided by building every push one after another, estimated as 20 x
one warm build measured just before, in the same state.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass

from bench.e2e import Pipeline, change
from bench.env import SAMPLE
from bench.hooks import BuildFailedError, wait_terminal
from bench.report import Report, Table, fmt_seconds, median
from core.build import BuildRecord

PATH = "autobuild-bench/sample"
SPREAD_SECONDS = 2.0  # the spread burst's pushes are 2.0 / 20 = 0.1 s apart: the last at 1.9 s


@dataclass(frozen=True)
class Burst:
    name: str
    window: float  # seconds from the first push to the last
    sent: list[float]
    records: list[BuildRecord]
    arrived: float  # seconds from the first push to the last commit's digest in the registry

    @property
    def ran(self) -> int:
        return sum(r.started_at is not None for r in self.records)


def one_burst(pipeline: Pipeline, name: str, before: str, spacing: float, salt: str) -> Burst:
    """``pushes`` pushes to master, ``spacing`` seconds apart (0: as fast as they go)."""
    bench = pipeline.bench
    sample = bench.sample
    pushes = bench.params.burst_pushes
    assert pipeline.hooks is not None
    changes = [change(7 + k % 13, f"{salt} {name} {k}") for k in range(pushes)]
    commits = sample.commit_chain("refs/bench/burst", before, changes, "burst")
    pipeline.wait_idle()
    build_ids: list[str] = []
    sent: list[float] = []
    start = time.perf_counter()
    for number, sha in enumerate(commits):
        pause = start + number * spacing - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sample.update_ref("refs/heads/master", sha)  # the push
        sent.append(time.perf_counter() - start)
        changed = [f"src/mod{7 + number % 13:02d}.txt"]
        build_ids.extend(pipeline.hooks.push(SAMPLE, "master", before, sha, changed))
        before = sha
    window = sent[-1]

    # Watch the registry until the last build ends: when did its digest appear?
    seen: list[tuple[float, str | None]] = []
    last_id = build_ids[-1]
    end = time.perf_counter() + 600
    while time.perf_counter() < end:
        digest = bench.registry.digest(PATH, "latest")
        if not seen or seen[-1][1] != digest:
            seen.append((time.perf_counter() - start, digest))
        record = pipeline.store.get(last_id)
        if record is not None and record.status.terminal:
            break
        time.sleep(0.02)
    records = wait_terminal(pipeline.store, build_ids)
    last = next(r for r in records if r.id == last_id)
    if last.status.value != "success" or last.commit != commits[-1]:
        raise BuildFailedError(f"the last push's build ended {last.status.value}: {last.error}")
    arrived = next((t for t, d in seen if d == last.digest), time.perf_counter() - start)
    return Burst(name, window, sent, records, arrived)


def run(pipeline: Pipeline, report: Report, warm_seconds: float | None = None) -> None:
    bench = pipeline.bench
    sample = bench.sample
    image = bench.namespace.image("sample")
    pushes = bench.params.burst_pushes
    salt = secrets.token_hex(4)

    # A warm installation: one build to fill this worker's cache, then timed warm builds.
    timed = 2 if bench.params.quick else 3
    tip = sample.rev("refs/heads/master")
    warmups = sample.commit_chain(
        "refs/heads/master", tip, [change(3 + n, salt) for n in range(timed + 1)], "burst warm-up"
    )
    warm_times: list[float] = []
    before = tip
    for number, sha in enumerate(warmups):
        sample.update_ref("refs/heads/master", sha)
        done = pipeline.autobuild(
            SAMPLE, sample, image, sha, before, [f"src/mod{3 + number:02d}.txt"]
        )
        if number:
            warm_times.append(done.seconds)
        before = sha
    warm_build = median(warm_times)
    sequential = pushes * warm_build

    spread = one_burst(pipeline, "spread", before, SPREAD_SECONDS / pushes, salt)
    tight = one_burst(pipeline, "tight", sample.rev("refs/heads/master"), 0.0, salt)

    table = Table(
        f"burst: {pushes} pushes to master",
        ["pushes", "within", "ran", "statuses", "last image", "20 x warm", "ratio"],
    )
    for burst in (spread, tight):
        statuses = Counter(r.status.value for r in burst.records)
        table.add(
            "every 0.1 s" if burst is spread else "as fast as possible",
            fmt_seconds(burst.window), burst.ran,
            " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
            fmt_seconds(burst.arrived), fmt_seconds(sequential),
            f"{burst.arrived / sequential:.3f}",
        )  # fmt: skip
    table.note(
        "ran = builds a worker started (left `queued`); last image = from the first push to the"
        " last commit's digest in the registry; 20 x warm = building every push one after"
        f" another, estimated from the median of {timed} warm builds measured just before"
        f" ({fmt_seconds(warm_build)})"
    )
    if warm_seconds is not None:
        table.note(f"(e2e warm median for comparison: {fmt_seconds(warm_seconds)})")
    report.table(table)
    ratio = spread.arrived / sequential
    report.ratio("burst", ratio, "<= 0.25 (pushes every 0.1 s)", ratio <= 0.25)
    report.check("burst builds run (every 0.1 s)", float(spread.ran), "<= 2", spread.ran <= 2)
    report.check("burst builds run (tight)", float(tight.ran), "<= 2", tight.ran <= 2)
