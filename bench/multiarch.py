"""``multiarch``: a two-platform image (linux/amd64 and linux/arm64 under QEMU) from the webhook
to the index in the registry, against doing it by hand with the docker CLI: clone, per platform
``DOCKER_BUILDKIT=1 docker build --platform`` + ``docker push`` under its own tag, then
``docker manifest create`` + ``docker manifest push`` of the index.

Each round commits one changed source file; both sides then rebuild the changed steps of both
platforms on the same daemon (the unchanged first steps come from its build cache for both).
Autobuild's time ends when the registry answers ``latest`` with the index (the platforms go
under the rule's first tag, ``build``).
"""

from __future__ import annotations

import secrets

from bench.e2e import Pipeline, change
from bench.env import ARM64_BUSYBOX, MULTIARCH, MULTIARCH_PLATFORMS
from bench.images import plain_multiarch
from bench.report import Report, Table, fmt_seconds, median
from worker.emulation import emulator_problem, native_arch


def check_ready() -> None:
    if not ARM64_BUSYBOX.is_file():
        raise RuntimeError(f"{ARM64_BUSYBOX} is missing (run scripts/arm64-busybox.sh as root)")
    problem = emulator_problem("linux/arm64", native_arch())
    if problem is not None:
        raise RuntimeError(problem)


def one_round(pipeline: Pipeline, number: int) -> tuple[float, float]:
    bench = pipeline.bench
    repo = bench.multiarch
    image = bench.namespace.image("multiarch")
    plain_ref = bench.namespace.image("multiarch-plain") + ":latest"
    tip = repo.rev("refs/heads/master")
    sha = repo.commit(
        "refs/heads/master", tip, change(0, f"multiarch {number} {secrets.token_hex(4)}"), "round"
    )
    repo.update_ref("refs/heads/master", sha)

    def autobuild() -> float:
        return pipeline.autobuild(MULTIARCH, repo, image, sha, tip, ["src/mod00.txt"]).seconds

    def by_hand() -> float:
        assert pipeline.plain_log is not None
        directory = bench.scratch / f"multiarch-{secrets.token_hex(3)}"
        return plain_multiarch(
            bench.url(repo), "master", directory, plain_ref, MULTIARCH_PLATFORMS, pipeline.plain_log
        )

    if number % 2:
        ours, theirs = autobuild(), by_hand()
    else:
        theirs, ours = by_hand(), autobuild()
    bench.clean_images()
    return ours, theirs


def run(pipeline: Pipeline, report: Report) -> None:
    check_ready()
    rounds = [one_round(pipeline, n) for n in range(1, 2 if pipeline.bench.params.quick else 4)]
    table = Table(
        "multiarch: linux/amd64 + linux/arm64 (QEMU) image and index, webhook -> index in the"
        " registry vs by hand",
        ["case", "median", "min", "max"],
    )
    for name, values in (
        ("autobuild", [r[0] for r in rounds]),
        ("by hand (build+push each, docker manifest)", [r[1] for r in rounds]),
    ):
        table.add(
            name, fmt_seconds(median(values)), fmt_seconds(min(values)), fmt_seconds(max(values))
        )
    table.note("by hand: /usr/bin/docker 20.10, DOCKER_BUILDKIT=1, clone included")
    report.table(table)
    ratio = median([r[0] for r in rounds]) / median([r[1] for r in rounds])
    report.ratio("multiarch", ratio, "<= 1.1", ratio <= 1.1)
