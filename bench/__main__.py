"""``python -m bench [--quick] [--only FIGURE ...]``: run the benchmarks, print the tables and,
last, one ``ratio NAME VALUE`` line per figure."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from collections.abc import Callable

from bench import burst, coldworker, e2e, ingest, multiarch, replica, stages
from bench.env import Bench, Params, info_line, summary_of
from bench.report import Report

FIGURES = ("ingest", "ingest_replica", "e2e", "burst", "cold_worker", "multiarch", "stages")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one round, short runs (< 2 min)")
    parser.add_argument(
        "--only", nargs="+", choices=FIGURES, default=list(FIGURES), help="figures to run"
    )
    parser.add_argument(
        "--client", choices=("asyncio", "threads"), default="asyncio", help="ingest load client"
    )
    args = parser.parse_args(argv)
    params = Params.for_mode(args.quick)
    started = time.perf_counter()
    report = Report()
    mode = "quick" if args.quick else "full"
    print(f"Autobuild bench ({mode}): {os.cpu_count()} CPUs, figures: {' '.join(args.only)}")
    failed: list[str] = []

    def attempt(names: tuple[str, ...], figure: Callable[[], object]) -> object:
        """Run one figure; a failure is reported (``ratio NAME nan``) and the others still run."""
        try:
            return figure()
        except Exception as exc:
            failed.extend(names)
            print(f"!! {'/'.join(names)} failed: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc(file=sys.stderr)
            for name in names:
                report.ratio(name, math.nan, "-", False)
            return None

    with Bench(params) as bench:
        print(info_line(bench))
        print(summary_of(bench.api))
        print(f"logs: {bench.log_dir}\n", flush=True)
        if "ingest" in args.only:
            attempt(("ingest",), lambda: ingest.run(bench, report, client=args.client))
        if "ingest_replica" in args.only:
            attempt(("ingest_replica",), lambda: replica.run(bench, report, client=args.client))
        if {"e2e", "burst", "cold_worker", "multiarch", "stages"} & set(args.only):
            with e2e.Pipeline(bench) as pipeline:
                warm = None
                if "e2e" in args.only:
                    names = ("e2e_cold", "e2e_warm", "e2e_limit")
                    value = attempt(names, lambda: e2e.run(pipeline, report))
                    warm = value if isinstance(value, float) else None
                if "burst" in args.only:
                    attempt(("burst",), lambda: burst.run(pipeline, report, warm_seconds=warm))
                if "cold_worker" in args.only:
                    attempt(("cold_worker",), lambda: coldworker.run(pipeline, report))
                if "multiarch" in args.only:
                    attempt(("multiarch",), lambda: multiarch.run(pipeline, report))
                if "stages" in args.only:
                    attempt(("stages",), lambda: stages.run(pipeline, report))
    report.finish()
    print(f"# bench ({mode}) took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
