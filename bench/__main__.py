"""``python -m bench [--quick] [--only FIGURE ...]``: run the benchmarks, print the tables and,
last, one ``ratio NAME VALUE`` line per figure."""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench import burst, coldworker, e2e, ingest
from bench.env import Bench, Params, info_line, summary_of
from bench.report import Report

FIGURES = ("ingest", "e2e", "burst", "cold_worker")


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
    with Bench(params) as bench:
        print(info_line(bench))
        print(summary_of(bench.api))
        print(f"logs: {bench.log_dir}\n", flush=True)
        if "ingest" in args.only:
            ingest.run(bench, report, client=args.client)
        if {"e2e", "burst", "cold_worker"} & set(args.only):
            with e2e.Pipeline(bench) as pipeline:
                warm = None
                if "e2e" in args.only:
                    warm = e2e.run(pipeline, report)
                if "burst" in args.only:
                    burst.run(pipeline, report, warm_seconds=warm)
                if "cold_worker" in args.only:
                    coldworker.run(pipeline, report)
    report.finish()
    print(f"# bench ({mode}) took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
