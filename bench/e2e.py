"""``e2e_cold``, ``e2e_warm`` and ``e2e_limit``: from the webhook to the digest in the registry,
against the plain pipeline on the same Docker daemon.

Autobuild runs as in production: ``autobuild web`` (gunicorn) and a long-running ``autobuild
worker`` (rq, not ``--burst``), so queue pickup is part of every time. The sample repository is
served by ``git daemon`` on 127.0.0.1.

Each round:

- Autobuild **cold**: no git mirror, no local image of the sample, no image in the registry for
  the tag; push commit A (a new asset and a new source file, so its layers are new).
- Autobuild **warm**: push commit B, which changes one source file.
- The bench then removes every local image Autobuild made, and runs the **plain pipeline** with
  the docker CLI (``git clone --depth 1 --branch``, ``DOCKER_BUILDKIT=1 docker build -t`` with
  Debian's 20.10 CLI, ``docker push``): cold on commit A, then warm on commit B (its own cache
  from A, like a script run twice on one machine), and the **limit**: ``docker build`` +
  ``docker push`` alone of commit C (one more source file changed) on a checkout cloned
  beforehand.
- Rounds alternate which of the two goes first.

The rounds run with BuildKit on both sides (Autobuild's default builder, ``DOCKER_BUILDKIT=1``),
then again with the legacy builder on both sides (a repository with ``builder: legacy``,
``DOCKER_BUILDKIT=0``) for a second table; the targets use the BuildKit rounds.

Ratios use the medians over rounds: cold = Autobuild cold / plain cold; warm = Autobuild warm /
plain warm; limit = Autobuild warm / the plain limit.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import IO

from rq import Queue, Worker

from bench.env import SAMPLE, SAMPLE_LEGACY, Bench
from bench.hooks import Arrival, WebhookClient, store_for, wait_for_build
from bench.images import PlainTimes, plain_build_push, plain_clone, plain_pipeline
from bench.procs import Process
from bench.report import Report, Table, fmt_seconds, median
from bench.sample import BareRepo, source_text
from core.build import BuildRecord
from core.logs import read_log
from core.store import BuildStore


@dataclass(frozen=True)
class Timed:
    """One Autobuild build: seconds from the webhook to the digest in the registry, and where
    the time went (from the record and the build log)."""

    seconds: float
    done_seconds: float
    phases: dict[str, float]
    record: BuildRecord
    cache_line: str


class Pipeline:
    """The web and worker processes for the build figures, and helpers to drive them."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.queue = f"bench-e2e-{secrets.token_hex(4)}"
        self.web: Process | None = None
        self.worker: Process | None = None
        self.port = 0
        self.hooks: WebhookClient | None = None
        self.store: BuildStore = store_for(bench.redis_url)
        self.plain_log: IO[bytes] | None = None

    def __enter__(self) -> Pipeline:
        self.web, self.port = self.bench.start_web(self.queue, name="web")
        self.worker = self.bench.start_worker(self.queue)
        self.hooks = WebhookClient(self.port, self.bench.secret)
        self.plain_log = open(self.bench.log_dir / "plain.log", "ab")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.hooks is not None:
            self.hooks.close()
        for process in (self.worker, self.web):
            if process is not None:
                self.bench.stop(process)
        if self.plain_log is not None:
            self.plain_log.close()

    # -- Autobuild ---------------------------------------------------------------------------
    def autobuild(
        self,
        repository: str,
        repo: BareRepo,
        image: str,
        sha: str,
        before: str,
        changed: list[str],
        tag: str = "latest",
    ) -> Timed:
        """Deliver the push of ``sha`` to master and wait for its image in the registry."""
        assert self.hooks is not None
        path = image.split("/", 1)[1]
        previous = self.bench.registry.digest(path, tag)
        wall = time.time()
        start = time.perf_counter()
        build_ids = self.hooks.push(repository, "master", before, sha, changed)
        arrival = wait_for_build(self.store, self.bench.registry, path, tag, build_ids[0], previous)
        return self._timed(arrival, start, wall)

    def _timed(self, arrival: Arrival, start: float, wall: float) -> Timed:
        record = arrival.record
        lines = read_log(self.bench.redis, record.id)
        with open(self.bench.log_dir / "builds.log", "a") as out:  # for reading later
            out.write(
                f"# build {record.id} {record.repository} {record.commit[:7]}"
                f" {record.status.value}\n"
            )
            for line in lines:
                out.write(
                    f"{line.time.timestamp() - wall:7.3f} [{line.phase or '-'}] {line.text}\n"
                )
        first: dict[str, datetime] = {}
        cache_line = ""
        for line in lines:
            if line.phase and line.phase not in first:
                first[line.phase] = line.time
            if line.text.startswith("Layer cache"):
                cache_line = line.text

        def at(moment: datetime | None) -> float:
            return moment.timestamp() - wall if moment else float("nan")

        marks = {
            "recorded": at(record.created_at),
            "started": at(record.started_at),
            "clone": at(first.get("clone")),
            "build": at(first.get("build")),
            "push": at(first.get("push")),
            "finished": at(record.finished_at),
        }
        phases = {
            "webhook": marks["recorded"],
            "pickup": marks["started"] - marks["recorded"],
            "git": marks["build"] - marks["clone"],
            "build": marks["push"] - marks["build"],
            "push": marks["finished"] - marks["push"],
        }
        return Timed(
            seconds=arrival.digest_at - start,
            done_seconds=arrival.done_at - start,
            phases=phases,
            record=record,
            cache_line=cache_line,
        )

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until the worker has finished its last job (rq's own bookkeeping included)."""
        connection = self.bench.redis
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            workers = Worker.all(
                connection=connection, queue=Queue(self.queue, connection=connection)
            )
            if workers and all(w.get_state() == "idle" for w in workers):
                return
            time.sleep(0.05)

    # -- the plain pipeline -----------------------------------------------------------------
    def plain(self, branch: str, reference: str, buildkit: bool = True) -> PlainTimes:
        assert self.plain_log is not None
        directory = self.bench.scratch / f"plain-{secrets.token_hex(3)}"
        return plain_pipeline(
            self.bench.url(self.bench.sample),
            branch,
            directory,
            reference,
            self.plain_log,
            buildkit,
        )

    def plain_limit(self, branch: str, reference: str, buildkit: bool = True) -> float:
        """``docker build`` + ``docker push`` on a checkout cloned beforehand (not timed)."""
        assert self.plain_log is not None
        directory = self.bench.scratch / f"limit-{secrets.token_hex(3)}"
        plain_clone(self.bench.url(self.bench.sample), branch, directory, self.plain_log)
        build, push = plain_build_push(directory, reference, self.plain_log, buildkit)
        return build + push


def change(index: int, salt: str) -> dict[str, bytes | None]:
    """A new version of source file ``src/mod<index>.txt``."""
    return {f"src/mod{index:02d}.txt": source_text(index, salt)}


@dataclass(frozen=True)
class Variant:
    """Which builder both sides use: Autobuild's repository and the plain pipeline's CLI."""

    label: str
    repository: str  # the configured repository (its builder)
    image_name: str  # under the bench namespace
    plain_name: str
    buildkit: bool  # the plain pipeline's DOCKER_BUILDKIT


BUILDKIT = Variant("BuildKit", SAMPLE, "sample", "plain", True)
LEGACY = Variant("legacy builder", SAMPLE_LEGACY, "sample-legacy", "plain-legacy", False)


@dataclass
class Round:
    cold: Timed
    warm: Timed
    plain_cold: PlainTimes
    plain_warm: PlainTimes
    limit: float


def one_round(pipeline: Pipeline, number: int, variant: Variant = BUILDKIT) -> Round:
    bench = pipeline.bench
    sample = bench.sample
    image = bench.namespace.image(variant.image_name)
    plain_ref = bench.namespace.image(variant.plain_name) + ":latest"
    salt = f"round {number} {secrets.token_hex(4)}"
    tip = sample.rev("refs/heads/master")
    commit_a = sample.commit(
        "refs/heads/master", tip,
        {"assets/blob0000.bin": os.urandom(bench.params.asset_bytes),
         **change(0, salt)},
        f"round {number}: new asset and source",
    )  # fmt: skip
    commit_b = sample.commit(
        "refs/heads/master", commit_a, change(1, salt), f"round {number}: warm"
    )
    sample.update_ref("refs/heads/master", commit_a)  # B is pushed later

    def autobuild_pair() -> tuple[Timed, Timed]:
        bench.clean_images()
        bench.clear_mirrors()
        bench.registry.delete_tag(f"autobuild-bench/{variant.image_name}", "latest")
        sample.update_ref("refs/heads/master", commit_a)
        cold = pipeline.autobuild(
            variant.repository,
            sample,
            image,
            commit_a,
            tip,
            ["assets/blob0000.bin", "src/mod00.txt"],
        )
        sample.update_ref("refs/heads/master", commit_b)
        warm = pipeline.autobuild(
            variant.repository, sample, image, commit_b, commit_a, ["src/mod01.txt"]
        )
        bench.clean_images()
        return cold, warm

    def plain_triple() -> tuple[PlainTimes, PlainTimes, float]:
        bench.clean_images()
        bench.registry.delete_tag(f"autobuild-bench/{variant.plain_name}", "latest")
        sample.update_ref("refs/heads/plain", commit_a)
        plain_cold = pipeline.plain("plain", plain_ref, variant.buildkit)
        sample.update_ref("refs/heads/plain", commit_b)
        plain_warm = pipeline.plain("plain", plain_ref, variant.buildkit)
        commit_c = sample.commit("refs/heads/plain", commit_b, change(2, salt), "limit")
        sample.update_ref("refs/heads/plain", commit_c)
        limit = pipeline.plain_limit("plain", plain_ref, variant.buildkit)
        bench.clean_images()
        return plain_cold, plain_warm, limit

    if number % 2:
        cold, warm = autobuild_pair()
        plain_cold, plain_warm, limit = plain_triple()
    else:
        plain_cold, plain_warm, limit = plain_triple()
        cold, warm = autobuild_pair()
    sample.update_ref("refs/heads/master", commit_b)
    return Round(cold, warm, plain_cold, plain_warm, limit)


def run(pipeline: Pipeline, report: Report) -> float:
    """Run the rounds, report the three figures (BuildKit on both sides), then the same rounds
    with the legacy builder on both sides as a second table; returns the median warm time with
    BuildKit (for burst)."""
    count = pipeline.bench.params.e2e_rounds
    rounds = [one_round(pipeline, number) for number in range(1, count + 1)]
    report.table(figure_table(rounds, BUILDKIT))
    legacy = [one_round(pipeline, number, LEGACY) for number in range(1, count + 1)]
    report.table(figure_table(legacy, LEGACY))

    cold = [r.cold for r in rounds]
    cold_ratio = median([t.seconds for t in cold]) / median([r.plain_cold.total for r in rounds])
    warm_median = median([r.warm.seconds for r in rounds])
    warm_ratio = warm_median / median([r.plain_warm.total for r in rounds])
    limit_ratio = warm_median / median([r.limit for r in rounds])
    report.ratio("e2e_cold", cold_ratio, "<= 1.1", cold_ratio <= 1.1)
    report.ratio("e2e_warm", warm_ratio, "<= 0.8", warm_ratio <= 0.8)
    report.ratio("e2e_limit", limit_ratio, "<= 1.2", limit_ratio <= 1.2)
    return warm_median


def figure_table(rounds: list[Round], variant: Variant) -> Table:
    """The table of one variant's rounds."""
    table = Table(
        f"e2e ({variant.label}): webhook -> digest in the registry (Autobuild) vs clone + build"
        " + push (docker CLI)",
        ["case", "median", "min", "max", "git/clone", "build", "push", "pickup", "webhook"],
    )

    def row(
        name: str, values: list[float], parts: list[tuple[float, float, float, float, float]]
    ) -> None:
        table.add(
            name, fmt_seconds(median(values)), fmt_seconds(min(values)), fmt_seconds(max(values)),
            *(fmt_seconds(median([p[i] for p in parts])) for i in range(5)),
        )  # fmt: skip

    def ab_parts(timed: list[Timed]) -> list[tuple[float, float, float, float, float]]:
        return [
            (t.phases["git"], t.phases["build"], t.phases["push"], t.phases["pickup"],
             t.phases["webhook"]) for t in timed
        ]  # fmt: skip

    nan = float("nan")
    cold = [r.cold for r in rounds]
    warm = [r.warm for r in rounds]
    row("autobuild cold", [t.seconds for t in cold], ab_parts(cold))
    row(
        "plain cold",
        [r.plain_cold.total for r in rounds],
        [(r.plain_cold.clone, r.plain_cold.build, r.plain_cold.push, nan, nan) for r in rounds],
    )
    row("autobuild warm", [t.seconds for t in warm], ab_parts(warm))
    row(
        "plain warm",
        [r.plain_warm.total for r in rounds],
        [(r.plain_warm.clone, r.plain_warm.build, r.plain_warm.push, nan, nan) for r in rounds],
    )
    row(
        "plain build+push (limit)",
        [r.limit for r in rounds],
        [(nan, nan, nan, nan, nan) for _ in rounds],
    )
    cli = "DOCKER_BUILDKIT=1" if variant.buildkit else "DOCKER_BUILDKIT=0"
    table.note(
        "Autobuild phases from the build record and log: webhook = to the 202's record,"
        " pickup = queued -> worker started, git = fetch + export, build, push = push + verify;"
        f" plain: /usr/bin/docker 20.10 ({cli}), git clone --depth 1 over git://"
    )
    done_cold = fmt_seconds(median([t.done_seconds for t in cold]))
    done_warm = fmt_seconds(median([t.done_seconds for t in warm]))
    table.note(f"done (recorded success) medians: cold {done_cold}, warm {done_warm}")
    table.note(f"layer cache, cold: {cold[-1].cache_line or '-'}")
    table.note(f"layer cache, warm: {warm[-1].cache_line or '-'}")
    if not variant.buildkit:
        table.note("for comparison only: the targets are measured with BuildKit")
    return table
