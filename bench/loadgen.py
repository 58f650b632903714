"""A small HTTP/1.1 load generator: N kept-alive connections, each sending its next request as
soon as the previous answer is read, for a fixed time; or, with ``--rate R``, paced: R requests
a second in all, spread over the connections, each latency measured from when its request was
due (a server that falls behind shows it in the latencies, not in a lower rate only). Run in a
process of its own (``python -m bench.loadgen ...``), it prints one JSON object: counts per
status, latencies.

Two clients: ``asyncio`` (the default: one event loop, raw requests; about 40 µs of client CPU per
request) and ``threads`` (one thread with ``http.client`` per connection; several times the CPU,
and with 64 threads the GIL adds its own wait to every measured latency). On a 2-core machine the
client shares the cores with the server, so the lighter client measures the server, not itself.

Webhook requests are all distinct: each carries a new delivery id, a new commit id and the next
branch of a pool (``feature-0`` ... ``feature-<branches-1>``), and is signed with HMAC-SHA256.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.hooks import push_payload

AFTER = "a" * 40
BRANCH_WIDTH = 6


@dataclass
class Recorder:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


class RequestMaker:
    """Makes the bytes of the next request (cheap: a replace and an HMAC)."""

    def __init__(self, kind: str, port: int, secret: str, repository: str, branches: int) -> None:
        self.kind = kind
        self.host = f"127.0.0.1:{port}"
        self.secret = secret.encode()
        self.branches = branches
        self.counter = 0
        if kind == "webhook":
            branch = "feature-" + "0" * BRANCH_WIDTH
            body = json.dumps(
                push_payload(repository, f"refs/heads/{branch}", "0" * 39 + "1", AFTER, ["app.py"])
            ).encode()
            self.template = body
            self.branch_marker = branch.encode()

    def next(self) -> bytes:
        self.counter += 1
        if self.kind != "webhook":
            return f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        sha = os.urandom(20).hex().encode()
        branch = f"feature-{self.counter % self.branches:0{BRANCH_WIDTH}d}".encode()
        body = self.template.replace(AFTER.encode(), sha).replace(self.branch_marker, branch)
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        head = (
            f"POST /webhooks/github HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nX-Hub-Signature-256: sha256={signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


# --- asyncio client -------------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"connection" and value.strip().lower() == b"close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def _connection(
    port: int, maker: RequestMaker, window: tuple[float, float], rec: Recorder,
    pace: tuple[float, float] | None = None,
) -> None:  # fmt: skip
    """Send the next request as soon as the previous answer is read; or, with ``pace`` (when the
    first is due, the period), at its due times: a late request goes at once, its latency
    counted from when it was due. Only requests due inside ``window`` (start, stop) count."""
    start, stop = window
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    due = pace[0] if pace else clock()
    try:
        while due < stop:
            wait = due - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(maker.next())
            try:
                status, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                rec.errors += 1
                close = True
            else:
                if due >= start:
                    rec.latencies.append(clock() - due)
                    rec.statuses[status] += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            due = due + pace[1] if pace else clock()
    finally:
        writer.close()


async def _run_async(
    port: int, maker: RequestMaker, connections: int, warmup: float, seconds: float,
    rate: float = 0.0,
) -> tuple[Recorder, float]:  # fmt: skip
    rec = Recorder()
    start = time.perf_counter() + warmup
    stop = start + seconds
    paces: list[tuple[float, float] | None] = [None] * connections
    if rate > 0:
        begin, period = time.perf_counter() + 0.05, connections / rate
        paces = [(begin + i / rate, period) for i in range(connections)]
    await asyncio.gather(*(_connection(port, maker, (start, stop), rec, p) for p in paces))
    return rec, seconds


# --- threads client -------------------------------------------------------------------------------


def _run_threads(
    port: int, maker: RequestMaker, connections: int, warmup: float, seconds: float
) -> tuple[Recorder, float]:
    rec = Recorder()
    lock = threading.Lock()
    start = time.perf_counter() + warmup
    stop = start + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: list[tuple[float, int]] = []
        while True:
            sent = time.perf_counter()
            if sent >= stop:
                break
            raw = maker.next()
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:])
            headers.pop("Host", None)
            try:
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    rec.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            if sent >= start:
                local.append((time.perf_counter() - sent, response.status))
        conn.close()
        with lock:
            for latency, status in local:
                rec.latencies.append(latency)
                rec.statuses[status] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rec, seconds


RUNNERS: dict[str, Callable[..., tuple[Recorder, float]]] = {
    "threads": _run_threads,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=("webhook", "trivial"), required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--secret", default="")
    parser.add_argument("--repository", default="autobuild-bench/ingest")
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--client", choices=("asyncio", "threads"), default="asyncio")
    parser.add_argument("--rate", type=float, default=0.0, help="paced: requests/s (asyncio)")
    args = parser.parse_args(argv)
    maker = RequestMaker(args.kind, args.port, args.secret, args.repository, args.branches)
    cpu0 = time.process_time()
    if args.client == "asyncio":
        rec, seconds = asyncio.run(
            _run_async(args.port, maker, args.connections, args.warmup, args.seconds, args.rate)
        )
    else:
        sys.setswitchinterval(0.0005)
        rec, seconds = RUNNERS["threads"](
            args.port, maker, args.connections, args.warmup, args.seconds
        )
    cpu = time.process_time() - cpu0
    json.dump(
        {
            "latencies": rec.latencies,
            "statuses": {str(k): v for k, v in rec.statuses.items()},
            "errors": rec.errors,
            "seconds": seconds,
            "client_cpu": cpu,
            "requests_made": maker.counter,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
