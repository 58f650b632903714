"""``ingest``: signed GitHub pushes through gunicorn (``autobuild web``) at 1, 16 and 64 concurrent
kept-alive connections, beside the same server's trivial endpoint (``GET /healthz``), then paced
at 200 deliveries/s on 64 connections (the latency of a sustained load, not of a saturated one).

Nothing builds: the web process verifies, matches, records and enqueues each push on a throwaway
queue that no worker reads; the queue and the records are deleted afterwards. The ratio is the
webhook throughput over the trivial throughput at the highest concurrency; the target is a ratio
of at least 0.25 and a p99 of at most 50 ms at 200 deliveries/s sustained.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import dataclass

from bench.env import INGEST, MARKER_KEY, Bench
from bench.procs import PROJECT_ROOT, process_tree_cpu
from bench.report import Report, Table, fmt_ms, fmt_ratio, percentile


@dataclass(frozen=True)
class LoadResult:
    kind: str
    connections: int
    count: int
    seconds: float
    p50: float
    p99: float
    statuses: dict[str, int]
    errors: int
    client_cpu: float
    server_cpu: float = 0.0  # CPU seconds of the gunicorn processes during the run
    made: int = 0

    @property
    def requests(self) -> int:
        """Requests made in the run, warm-up included (what the server's CPU time covers)."""
        return self.made

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        wanted = "202" if self.kind == "webhook" else "200"
        return self.statuses.get(wanted, 0)


def load(
    bench: Bench,
    port: int,
    kind: str,
    connections: int,
    client: str,
    server_pid: int,
    rate: float = 0.0,
) -> LoadResult:
    argv = [
        sys.executable, "-m", "bench.loadgen",
        "--port", str(port), "--kind", kind, "--connections", str(connections),
        "--seconds", str(bench.params.ingest_seconds), "--secret", bench.secret,
        "--repository", INGEST, "--branches", str(bench.params.ingest_branches),
        "--client", "asyncio" if rate else client, "--rate", str(rate),
    ]  # fmt: skip
    cpu_before = process_tree_cpu(server_pid)
    output = subprocess.run(
        argv, cwd=PROJECT_ROOT, capture_output=True, check=True, timeout=300
    ).stdout
    server_cpu = process_tree_cpu(server_pid) - cpu_before
    data = json.loads(output)
    latencies = data["latencies"]
    return LoadResult(
        kind=kind,
        connections=connections,
        count=len(latencies),
        seconds=data["seconds"],
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        statuses=data["statuses"],
        errors=data["errors"],
        client_cpu=data["client_cpu"],
        server_cpu=server_cpu,
        made=data["requests_made"],
    )


def run(bench: Bench, report: Report, client: str = "asyncio") -> None:
    queue = f"bench-ingest-{secrets.token_hex(4)}"
    web, port = bench.start_web(queue, name="web-ingest")
    results: list[tuple[LoadResult, LoadResult]] = []
    try:
        for connections in bench.params.ingest_levels:
            assert web.pid is not None
            trivial = load(bench, port, "trivial", connections, client, web.pid)
            webhook = load(bench, port, "webhook", connections, client, web.pid)
            results.append((webhook, trivial))
        assert web.pid is not None
        paced = load(
            bench, port, "webhook", max(bench.params.ingest_levels), client, web.pid,
            rate=bench.params.ingest_rate,
        )  # fmt: skip
        queued = bench.redis.zcard("autobuild:builds:queued")
        total = bench.redis.zcard("autobuild:builds")
    finally:
        bench.stop(web)
        bench.redis.flushdb()  # the throwaway queue, its jobs and the build records
        bench.redis.set(MARKER_KEY, bench.run_id)

    table = Table(
        "ingest: signed GitHub pushes vs GET /healthz, same gunicorn (autobuild web)",
        [
            "conns",
            "endpoint",
            "req/s",
            "p50",
            "p99",
            "server CPU/req",
            "client CPU/req",
            "statuses",
            "errors",
            "ratio",
        ],
    )
    for webhook, trivial in results:
        ratio = webhook.rps / trivial.rps if trivial.rps else float("nan")
        for result in (trivial, webhook):
            statuses = " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items()))
            table.add(
                result.connections,
                "POST /webhooks/github" if result.kind == "webhook" else "GET /healthz",
                f"{result.rps:.0f}",
                fmt_ms(result.p50),
                fmt_ms(result.p99),
                fmt_ms(result.server_cpu / result.requests) if result.requests else "-",
                fmt_ms(result.client_cpu / result.requests) if result.requests else "-",
                statuses,
                result.errors,
                fmt_ratio(ratio) if result.kind == "webhook" else "",
            )
    table.add(
        paced.connections,
        f"POST /webhooks/github, paced {bench.params.ingest_rate:.0f}/s",
        f"{paced.rps:.0f}",
        fmt_ms(paced.p50),
        fmt_ms(paced.p99),
        fmt_ms(paced.server_cpu / paced.requests) if paced.requests else "-",
        fmt_ms(paced.client_cpu / paced.requests) if paced.requests else "-",
        " ".join(f"{k}:{v}" for k, v in sorted(paced.statuses.items())),
        paced.errors,
        "",
    )
    table.note(
        f"{bench.params.ingest_seconds:.0f} s per cell after 0.5 s warm-up; client: {client}"
        f" (python -m bench.loadgen), every delivery distinct (delivery id, commit, branch pool of"
        f" {bench.params.ingest_branches}); {total} builds recorded, {queued} still queued"
        " (superseded the rest), then deleted with the queue"
    )
    report.table(table)
    webhook, trivial = results[-1]
    ratio = webhook.rps / trivial.rps if trivial.rps else float("nan")
    sustained = paced.p99 <= 0.050 and paced.ok == paced.count
    met = ratio >= 0.25 and webhook.ok == webhook.count and sustained
    rate = f"{bench.params.ingest_rate:.0f}/s"
    report.ratio("ingest", ratio, f">= 0.25, p99 <= 50 ms at {rate} (p99 {fmt_ms(paced.p99)})", met)
