"""``ingest_replica``: what waiting for a replica (``WAIT``, core/replication.py) costs a webhook.

The bench starts a Redis of its own (``redis-server`` on a free loopback port, no persistence)
and runs the ingest load (bench/ingest.py: signed pushes through ``autobuild web``) against it
twice: alone, then with a replica (a second ``redis-server --replicaof``) attached, so that every
202 waits until the replica acknowledged the builds. The ratio is the webhook throughput with the
replica over the throughput without, at the highest concurrency; the latency at one connection
shows the cost of one delivery. Both processes are the bench's own and are stopped by PID.
"""

from __future__ import annotations

import secrets
import shutil
import time

import redis

from bench.env import Bench
from bench.ingest import LoadResult, load
from bench.procs import Process, free_port
from bench.report import Report, Table, fmt_ms, fmt_ratio

TARGET = 0.5  # the replica may halve the webhook throughput at most


def _redis_server(bench: Bench, name: str, port: int, *extra: str) -> Process:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    directory = bench.scratch / name
    directory.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    argv += ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", *extra]
    process = Process(name, argv, {}, bench.log_dir / f"{name}.log").start()
    bench.processes.append(process)
    return process


def _until(check: redis.Redis, what: str, replicas: int, seconds: float = 30.0) -> None:
    """Until the master answers and (``replicas``) acknowledges a write on that many replicas."""
    end = time.monotonic() + seconds
    while True:
        try:
            # online first: a write made before the replica's snapshot is acknowledged while
            # later ones are held back until its next ACK
            info = check.info("replication")
            online = sum(
                1 for k, v in info.items() if k.startswith("slave") and v["state"] == "online"
            )
            check.incr("bench:replica-probe")
            if online >= replicas and (not replicas or check.wait(replicas, 500) >= replicas):
                return
        except redis.RedisError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _ingest(bench: Bench, redis_url: str, client: str) -> list[LoadResult]:
    """The webhook load at one connection and at the highest level, on ``redis_url``."""
    queue = f"bench-replica-{secrets.token_hex(4)}"
    web, port = bench.start_web(queue, name="web-replica", redis_url=redis_url)
    try:
        assert web.pid is not None
        levels = (1, max(bench.params.ingest_levels))
        return [load(bench, port, "webhook", level, client, web.pid) for level in levels]
    finally:
        bench.stop(web)


def run(bench: Bench, report: Report, client: str = "asyncio") -> None:
    port = free_port()
    master = _redis_server(bench, "redis-master", port)
    replica: Process | None = None
    connection = redis.Redis(port=port, socket_timeout=5)
    try:
        _until(connection, "the bench's own Redis", 0)
        url = f"redis://127.0.0.1:{port}/0"
        alone = _ingest(bench, url, client)
        connection.flushall()
        replica = _redis_server(
            bench, "redis-replica", free_port(), "--replicaof", "127.0.0.1", str(port)
        )
        _until(connection, "the replica to acknowledge writes", 1)
        replicated = _ingest(bench, url, client)
    finally:
        connection.close()
        for process in (replica, master):
            if process is not None:
                bench.stop(process)

    table = Table(
        "ingest_replica: signed GitHub pushes, own Redis alone vs with a replica (WAIT)",
        ["conns", "Redis", "req/s", "p50", "p99", "server CPU/req", "statuses", "ratio"],
    )
    for before, after in zip(alone, replicated, strict=True):
        ratio = after.rps / before.rps if before.rps else float("nan")
        for label, result in (("alone", before), ("+ replica", after)):
            table.add(
                result.connections,
                label,
                f"{result.rps:.0f}",
                fmt_ms(result.p50),
                fmt_ms(result.p99),
                fmt_ms(result.server_cpu / result.requests) if result.requests else "-",
                " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items())),
                fmt_ratio(ratio) if label != "alone" else "",
            )
    table.note(
        f"{bench.params.ingest_seconds:.0f} s per cell; with the replica every 202 waits"
        " (AUTOBUILD_REDIS_WAIT_MS, default 1000) for WAIT 1 after a probe write on the"
        " transaction's master"
    )
    report.table(table)
    before, after = alone[-1], replicated[-1]
    ratio = after.rps / before.rps if before.rps else float("nan")
    met = ratio >= TARGET and after.ok == after.count
    report.ratio("ingest_replica", ratio, f">= {TARGET} (webhooks/s with a replica / without)", met)
