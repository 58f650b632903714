"""``stages``: a Dockerfile whose stages BuildKit runs in parallel, with ``RUN
--mount=type=cache`` steps, rebuilt after one source file changed: Autobuild (webhook -> digest
in the registry) against the plain pipeline (clone + ``DOCKER_BUILDKIT=1 docker build`` +
``docker push``) on the same daemon, after one untimed round that builds every stage once for
both. A table only: the issue sets no target for it.
"""

from __future__ import annotations

import secrets

from bench.e2e import Pipeline, change
from bench.env import STAGES
from bench.images import plain_pipeline
from bench.report import Report, Table, fmt_seconds, median


def one_round(pipeline: Pipeline, number: int) -> tuple[float, float]:
    bench = pipeline.bench
    repo = bench.stages
    image = bench.namespace.image("stages")
    plain_ref = bench.namespace.image("stages-plain") + ":latest"
    tip = repo.rev("refs/heads/master")
    sha = repo.commit(
        "refs/heads/master", tip, change(1, f"stages {number} {secrets.token_hex(4)}"), "round"
    )
    repo.update_ref("refs/heads/master", sha)

    def autobuild() -> float:
        return pipeline.autobuild(STAGES, repo, image, sha, tip, ["src/mod01.txt"]).seconds

    def plain() -> float:
        assert pipeline.plain_log is not None
        directory = bench.scratch / f"stages-{secrets.token_hex(3)}"
        times = plain_pipeline(bench.url(repo), "master", directory, plain_ref, pipeline.plain_log)
        return times.total

    if number % 2:
        ours, theirs = autobuild(), plain()
    else:
        theirs, ours = plain(), autobuild()
    return ours, theirs


def run(pipeline: Pipeline, report: Report) -> None:
    one_round(pipeline, 0)  # not timed: both sides' first build of the stages
    rounds = [one_round(pipeline, n) for n in range(1, 2 if pipeline.bench.params.quick else 4)]
    table = Table(
        "stages: parallel stages and cache mounts, one source file changed (BuildKit both sides)",
        ["case", "median", "min", "max"],
    )
    for name, values in (
        ("autobuild", [r[0] for r in rounds]),
        ("plain (clone + build + push)", [r[1] for r in rounds]),
    ):
        table.add(
            name, fmt_seconds(median(values)), fmt_seconds(min(values)), fmt_seconds(max(values))
        )
    ratio = median([r[0] for r in rounds]) / median([r[1] for r in rounds])
    table.note(f"autobuild / plain: {ratio:.2f} (no target)")
    report.table(table)
