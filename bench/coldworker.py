"""``cold_worker``: a rebuild on a worker whose Docker daemon has none of the project's images,
with the layer cache (``cache_from`` the image last pushed for the tag, pulled from the registry)
against the same rebuild without it (the rule's ``build_caching: false``).

The Dockerfile's first layer is expensive (hundreds of MB through sha256, then 16 MB of output).
For each variant: build commit P (fills the registry), remove every local image the bench made,
then time the push of commit Q (one source file changed) from the webhook to the digest.

Both repositories use ``builder: legacy``: BuildKit keeps its cache outside images, so removing
the bench's images would not make its worker cold, and pruning the daemon's whole build cache
would take other users' cache with it. BuildKit's cold-worker cache is the inline cache
(docs/buildkit.md).
"""

from __future__ import annotations

import secrets

from bench.e2e import Pipeline, Timed, change
from bench.env import COLD, COLD_NOCACHE
from bench.report import Report, Table, fmt_seconds, median
from core.logs import read_log

VARIANTS = (
    (COLD, "coldworker", "with cache_from"),
    (COLD_NOCACHE, "coldworker-nocache", "build_caching: false"),
)


def cached_steps(pipeline: Pipeline, build_id: str) -> int:
    return sum("Using cache" in line.text for line in read_log(pipeline.bench.redis, build_id))


def one_round(pipeline: Pipeline) -> dict[str, tuple[Timed, Timed]]:
    bench = pipeline.bench
    repo = bench.cold
    salt = secrets.token_hex(4)
    results: dict[str, tuple[Timed, Timed]] = {}
    for repository, name, label in VARIANTS:
        image = bench.namespace.image(name)
        bench.clean_images()
        bench.registry.delete_tag(f"autobuild-bench/{name}", "latest")
        tip = repo.rev("refs/heads/master")
        prime_sha, rebuild_sha = repo.commit_chain(
            "refs/heads/master", tip, [change(0, f"{salt} {name}"), change(1, f"{salt} {name}")],
            "cold worker",
        )  # fmt: skip
        repo.update_ref("refs/heads/master", prime_sha)
        prime = pipeline.autobuild(repository, repo, image, prime_sha, tip, ["src/mod00.txt"])
        bench.clean_images()  # the worker's daemon now has no image of this project
        repo.update_ref("refs/heads/master", rebuild_sha)
        rebuild = pipeline.autobuild(
            repository, repo, image, rebuild_sha, prime_sha, ["src/mod01.txt"]
        )
        results[label] = (prime, rebuild)
    bench.clean_images()
    return results


def run(pipeline: Pipeline, report: Report) -> None:
    rounds = [one_round(pipeline) for _ in range(1 if pipeline.bench.params.quick else 3)]
    table = Table(
        "cold_worker: rebuild with no local images, expensive first layer",
        ["variant", "first build", "rebuild", "steps from cache", "git", "build", "push"],
    )
    rebuilds: dict[str, list[float]] = {}
    for _repository, _name, label in VARIANTS:
        primes = [r[label][0] for r in rounds]
        again = [r[label][1] for r in rounds]
        rebuilds[label] = [t.seconds for t in again]
        table.add(
            label,
            fmt_seconds(median([t.seconds for t in primes])),
            fmt_seconds(median(rebuilds[label])),
            cached_steps(pipeline, again[-1].record.id),
            fmt_seconds(median([t.phases["git"] for t in again])),
            fmt_seconds(median([t.phases["build"] for t in again])),
            fmt_seconds(median([t.phases["push"] for t in again])),
        )
        table.note(f"{label}: {again[-1].cache_line or '-'}")
    table.note(f"expensive layer: {pipeline.bench.params.cold_megabytes} MB through sha256")
    report.table(table)
    ratio = median(rebuilds[VARIANTS[0][2]]) / median(rebuilds[VARIANTS[1][2]])
    report.ratio("cold_worker", ratio, "<= 0.3", ratio <= 0.3)
