"""Live log streams never starve the web: bounded per process and per client (503 with
Retry-After), each one ends after its lifetime, and followers resume after the last line with
nothing lost or repeated. gunicorn as ``autobuild web`` runs it, the real Redis."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from cli.client import ApiClient
from core.build import BuildStatus
from core.logs import BuildLog
from core.settings import Settings
from core.store import BuildStore
from tests.integration.browser_helpers import REPO, SECRET, add_record, write_ui_config
from tests.integration.webhook_helpers import github_push, make_app, make_settings, sign

pytestmark = pytest.mark.integration

STREAMS = 200
WEBHOOK_BOUND_SECONDS = 5.0  # generous: webhooks answer in milliseconds; GitHub gives up at 10 s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn(tmp_path, redis_url, clean_redis) -> Iterator[tuple[str, Settings]]:
    """``autobuild web`` (one gunicorn process) allowing 200 streams, 200 from one client."""
    if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("gunicorn is not installed in the virtual environment")
    settings = make_settings(
        write_ui_config(tmp_path),
        redis_url,
        tmp_path,
        UI_WEBHOOK_SECRET=SECRET,
        AUTOBUILD_STREAM_LIMIT=str(STREAMS),
        AUTOBUILD_STREAM_CLIENT_LIMIT=str(STREAMS),
        AUTOBUILD_STREAM_SECONDS="600",
    )
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w")  # read it when this test fails
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "web", "--port", str(port), "--workers", "1"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **dict(settings.environ)},
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=5).close()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start within 30 s")
                time.sleep(0.2)
        yield base, settings
    finally:
        os.killpg(process.pid, signal.SIGINT)  # gunicorn's quick shutdown: streams are open
        process.wait(20)
        log.close()


def _open_stream(port: int, build_id: str, source: str = "127.0.0.1") -> socket.socket:
    """An idle event-stream connection (from the loopback address ``source``) whose answer
    began with 200: it holds a thread. AssertionError with the answer's head otherwise."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    try:
        sock.sendall(
            f"GET /api/v1/builds/{build_id}/logs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "the stream closed before its headers"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
    except BaseException:
        sock.close()
        raise
    return sock


def _webhook_seconds(base: str, number: int) -> float:
    body = json.dumps(github_push(REPO, "refs/heads/master", f"{number:040x}")).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": f"stream-test-{number}",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    started = time.monotonic()
    answer = requests.post(f"{base}/webhooks/github", data=body, headers=headers, timeout=30)
    elapsed = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    return elapsed


def test_200_idle_streams_leave_webhooks_answered_and_the_201st_gets_503(gunicorn, clean_redis):
    base, _settings = gunicorn
    port = int(base.rsplit(":", 1)[1])
    # a build of another branch: the webhooks (master) do not supersede it, its streams stay open
    queued = add_record(BuildStore(clean_redis), source_name="idle")
    before = [_webhook_seconds(base, n) for n in range(1, 6)]
    streams: list[socket.socket] = []
    try:
        for _ in range(STREAMS):
            streams.append(_open_stream(port, queued.id))
        with requests.get(
            f"{base}/api/v1/builds/{queued.id}/logs",
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=10,
        ) as refused:
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) > 0
            assert "Too many log streams" in refused.json()["error"]
        during = [_webhook_seconds(base, n) for n in range(6, 16)]
        assert requests.get(f"{base}/healthz", timeout=WEBHOOK_BOUND_SECONDS).status_code == 200
    finally:
        for sock in streams:
            sock.close()
    print(f"\nwebhook seconds before: {before}\nwith {STREAMS} idle streams: {during}")
    assert max(during) < WEBHOOK_BOUND_SECONDS, during
    deadline = time.monotonic() + 20  # each slot is given back once its socket is seen closed
    while True:
        with requests.get(
            f"{base}/api/v1/builds/{queued.id}/logs",
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=10,
        ) as again:
            if again.status_code == 200:
                break
        assert time.monotonic() < deadline, "closed streams did not give their places back"
        time.sleep(0.2)


# --- per client, lifetime and resuming ------------------------------------------------------


@pytest.fixture
def live_app(tmp_path, redis_url, clean_redis) -> Iterator[Callable[..., str]]:
    """``live_app(VARIABLE=value, ...)``: the app on the real Redis, served by werkzeug
    (threaded) on a loopback port; its base URL."""
    servers: list[tuple[BaseWSGIServer, threading.Thread]] = []

    def start(**environ: str) -> str:
        settings = make_settings(
            write_ui_config(tmp_path), redis_url, tmp_path, UI_WEBHOOK_SECRET=SECRET, **environ
        )
        server = make_server("127.0.0.1", 0, make_app(settings), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    try:
        yield start
    finally:
        for server, thread in servers:
            server.shutdown()
            thread.join(10)
            server.server_close()


@pytest.fixture
def short_streams(live_app) -> str:
    """2-second streams."""
    return live_app(AUTOBUILD_STREAM_SECONDS="2")


def test_one_client_gets_503_past_its_share_while_another_is_served(live_app, clean_redis):
    base = live_app(AUTOBUILD_STREAM_CLIENT_LIMIT="2")
    port = int(base.rsplit(":", 1)[1])
    queued = add_record(BuildStore(clean_redis))
    held = [_open_stream(port, queued.id, source="127.0.0.2") for _ in "ab"]
    try:
        with pytest.raises(AssertionError, match="503"):
            _open_stream(port, queued.id, source="127.0.0.2")
        _open_stream(port, queued.id, source="127.0.0.3").close()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 20  # each place is given back once its socket is seen closed
    while True:
        try:
            _open_stream(port, queued.id, source="127.0.0.2").close()
            break
        except AssertionError:
            assert time.monotonic() < deadline, "closed streams did not give their places back"
            time.sleep(0.2)


def _read_until_closed(url: str, headers: dict[str, str], limit: float = 10.0) -> str:
    """The whole answer of a stream that must end by itself within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    text: list[str] = []
    with requests.get(url, headers=headers, stream=True, timeout=limit) as answer:
        assert answer.status_code == 200, answer.text
        for chunk in answer.iter_content(chunk_size=None, decode_unicode=True):
            text.append(chunk)
            assert time.monotonic() < deadline, f"the stream was still open after {limit} s"
    return "".join(text)


def _sse(body: str) -> list[tuple[str, str | None, dict]]:
    found = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], fields.get("id"), json.loads(fields["data"])))
    return found


def test_a_stream_ends_after_its_lifetime_and_resumes_after_last_event_id(
    short_streams, clean_redis
):
    store = BuildStore(clean_redis)
    record = add_record(store)
    store.transition(record.id, BuildStatus.BUILDING)
    log = BuildLog(clean_redis, record.id)
    for n in range(3):
        log.append(f"line {n}")
    url = f"{short_streams}/api/v1/builds/{record.id}/logs"
    started = time.monotonic()
    first = _read_until_closed(url, {"Accept": "text/event-stream"})
    assert time.monotonic() - started >= 2
    sent = _sse(first)
    lines = [(event_id, data["text"]) for kind, event_id, data in sent if kind == "line"]
    assert [text for _, text in lines] == ["line 0", "line 1", "line 2"]
    assert sent[-1][0] == "reconnect" and sent[-1][2] == {"after": lines[-1][0]}
    for n in range(3, 5):
        log.append(f"line {n}")
    store.transition(record.id, BuildStatus.FAILED, error="stopped for the test")
    resumed = _read_until_closed(
        url, {"Accept": "text/event-stream", "Last-Event-ID": str(lines[-1][0])}
    )
    rest = _sse(resumed)
    assert [data["text"] for kind, _, data in rest if kind == "line"] == ["line 3", "line 4"]
    assert rest[-1][:1] == ("end",) and rest[-1][2] == {"status": "failed"}
    bad = requests.get(
        url, headers={"Accept": "text/event-stream", "Last-Event-ID": "x"}, timeout=10
    )
    assert bad.status_code == 400


def test_the_cli_follower_spans_several_streams_without_losing_or_repeating_a_line(
    short_streams, clean_redis
):
    store = BuildStore(clean_redis)
    record = add_record(store)
    store.transition(record.id, BuildStatus.BUILDING)
    log = BuildLog(clean_redis, record.id)
    expected = [f"line {n}" for n in range(60)]

    def write() -> None:  # about 6 s: three 2-second streams at least
        for text in expected:
            log.append(text)
            time.sleep(0.1)
        store.transition(record.id, BuildStatus.SUCCESS)

    writer = threading.Thread(target=write)
    writer.start()
    started = time.monotonic()
    try:
        events = list(ApiClient(short_streams).follow_log(record.id))
    finally:
        writer.join(30)
    assert time.monotonic() - started > 4  # it outlived at least two streams
    assert [e.data["text"] for e in events if e.kind == "line"] == expected
    assert events[-1].kind == "end" and events[-1].data == {"status": "success"}


def test_a_text_follower_is_told_how_to_resume(short_streams, clean_redis):
    store = BuildStore(clean_redis)
    record = add_record(store)
    store.transition(record.id, BuildStatus.BUILDING)
    BuildLog(clean_redis, record.id).append("only line")
    url = f"{short_streams}/api/v1/builds/{record.id}/logs"
    text = _read_until_closed(f"{url}?follow=1", {}).splitlines()
    assert text[0].endswith("only line")
    assert "stream ended after 2 s" in text[-1]
    after = text[-1].rsplit("after=", 1)[1]
    store.transition(record.id, BuildStatus.FAILED, error="stopped for the test")
    rest = _read_until_closed(f"{url}?follow=1&after={after}", {})
    assert rest == ""
