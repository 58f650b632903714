"""Abuse refused: hostile ref names through every host's webhook and through the manual trigger
are refused or ignored without running anything (no process spawned, no build recorded or queued);
bodies over the limit get 413 from a real server before they are sent whole, chunked ones too.

The hostile names: options git would read (``--upload-pack=x``, ``-c``), path climbing
(``../../x``), a newline, 300 characters, unprintable characters, and bytes that are not UTF-8.
Every delivery is correctly signed, so the refusal comes from the checks behind the signature.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import git.cmd
import pytest
from werkzeug.serving import make_server

from core.gitcmd import ENV_EXECUTABLE
from core.queue import build_queue
from core.store import ALL_BUILDS
from tests.integration.host_payloads import (
    Commit,
    RefChange,
    SignedDelivery,
    bitbucket_cloud_push,
    bitbucket_server_refs_changed,
    git_push,
    gitea_push,
    github_json_push,
    gitlab_push,
    hex_hmac,
)
from tests.integration.services import create_git_repo
from tests.integration.webhook_helpers import github_push, make_app, make_settings

pytestmark = pytest.mark.integration

SECRET = "abuse-webhook-secret-0123"
TRIGGER_TOKEN = "abuse-trigger-token-0123"
SHA = "a" * 40
NON_UTF8 = "NON-UTF8-PLACEHOLDER"  # replaced by raw bytes that are not UTF-8, after encoding
HOSTILE_NAMES = [
    "--upload-pack=touch /tmp/autobuild-pwned",
    "-c",
    "-ccore.sshCommand=touch /tmp/autobuild-pwned",
    "../../x",
    "a/../../x",
    "line\nbreak",
    "a" * 300,
    "bell\x07",
    "lone\udcffsurrogate",
    NON_UTF8,
]
NAMES = {
    "github": "octo/abuse",
    "gitea": "octo/abuse",
    "gitlab": "octo/abuse",
    "bitbucket": "octo/abuse",
    "git": "octo/abuse",
}


def _bitbucket_server(ref: str) -> SignedDelivery:
    return bitbucket_server_refs_changed(SECRET, "SRV", "abuse", [RefChange(ref, after=SHA)])


BUILDERS: dict[str, Callable[[str], SignedDelivery]] = {
    "github": lambda ref: github_json_push(SECRET, github_push(NAMES["github"], ref, SHA)),
    "gitea": lambda ref: gitea_push(
        SECRET, NAMES["gitea"], RefChange(ref, after=SHA), [Commit(SHA)]
    ),
    "gitlab": lambda ref: gitlab_push(
        SECRET, NAMES["gitlab"], RefChange(ref, after=SHA), [Commit(SHA)]
    ),
    "bitbucket-cloud": lambda ref: bitbucket_cloud_push(
        SECRET, NAMES["bitbucket"], [RefChange(ref, after=SHA)]
    ),
    "bitbucket-server": _bitbucket_server,
    "git": lambda ref: git_push(SECRET, NAMES["git"], [RefChange(ref, after=SHA)]),
}


def _resign(delivery: SignedDelivery, body: bytes) -> SignedDelivery:
    """The same delivery with another body, signed again the way its host signs."""
    headers = dict(delivery.headers)
    for name in list(headers):
        lowered = name.lower()
        if lowered in ("x-hub-signature-256", "x-hub-signature", "x-autobuild-signature"):
            headers[name] = "sha256=" + hex_hmac(SECRET, body)
        elif lowered in ("x-gitea-signature", "x-gogs-signature", "x-forgejo-signature"):
            headers[name] = hex_hmac(SECRET, body)
    return SignedDelivery(delivery.provider, body, headers)


def hostile_delivery(host: str, ref: str) -> SignedDelivery:
    delivery = BUILDERS[host](ref.replace(NON_UTF8, "nonutf8"))
    body = delivery.body
    if NON_UTF8 in ref:
        body = body.replace(b"nonutf8", b"caf\xe9\xff")
    # (a lone surrogate such as \udcff travels as a JSON escape: json.dumps writes it so)
    return _resign(delivery, body)


@pytest.fixture
def spawned(monkeypatch) -> list[object]:
    """Every process the web process starts during the test (there must be none)."""
    started: list[object] = []
    real = subprocess.Popen

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, args, *rest, **kwargs):
            started.append(args)
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    monkeypatch.setattr(git.cmd, "safer_popen", Recording)  # where GitPython starts git
    return started


@pytest.fixture
def settings(tmp_path, redis_url, clean_redis):
    repo = create_git_repo(tmp_path / "repo", {"Dockerfile": "FROM scratch\n"})
    entries = ""
    for provider, name in {**NAMES, "bitbucket-server": "SRV/abuse"}.items():
        entries += textwrap.dedent(
            f"""\
              - provider: {provider.split("-")[0]}
                name: {name}
                clone_url: {repo.url}
                image: 127.0.0.1:5000/autobuild-test/abuse
                webhook_secret_env: ABUSE_SECRET
                trigger_token_env: ABUSE_TRIGGER
                build_rules:
                  - source_type: branch
                    source: /^(.*)$/
                    docker_tag: latest
                  - source_type: tag
                    source: /^(.*)$/
                    docker_tag: latest
            """
        )
    config = tmp_path / "autobuild.yml"
    config.write_text("repositories:\n" + entries)
    return make_settings(
        config, redis_url, tmp_path, ABUSE_SECRET=SECRET, ABUSE_TRIGGER=TRIGGER_TOKEN
    )


def assert_nothing_ran(settings, redis_conn, spawned) -> None:
    assert spawned == [], spawned
    assert redis_conn.zcard(ALL_BUILDS) == 0
    assert build_queue(redis_conn, settings.queue_name).count == 0


def test_a_good_ref_does_queue_a_build_for_every_host(client, settings, clean_redis, spawned):
    """The control: the same deliveries with an ordinary branch name are accepted."""
    for host in BUILDERS:
        answer = hostile_delivery(host, "refs/heads/feature/ok").post(client)
        assert answer.status_code == 202, (host, answer.get_json())
    assert build_queue(clean_redis, settings.queue_name).count == len(BUILDERS)
    assert spawned == []  # webhooks never run anything, even when they queue


@pytest.mark.parametrize("host", sorted(BUILDERS))
@pytest.mark.parametrize("kind", ["refs/heads/", "refs/tags/", ""])
def test_hostile_ref_names_are_refused_and_nothing_runs(
    client, settings, clean_redis, spawned, host, kind
):
    for name in HOSTILE_NAMES:
        answer = hostile_delivery(host, kind + name).post(client)
        assert answer.status_code in (200, 400), (host, name, answer.get_json())
        if answer.status_code == 200:
            assert "ignored" in answer.get_json(), (host, name, answer.get_json())
    assert_nothing_ran(settings, clean_redis, spawned)


TRIGGER_BODIES = [
    {"source_type": "Branch", "source_name": name} for name in HOSTILE_NAMES if name != NON_UTF8
] + [
    {"source_type": "Tag", "source_name": "--upload-pack=x"},
    {"source_type": "--upload-pack=x", "source_name": "main"},
    {"docker_tag": "-c"},
    {"docker_tag": "../../x"},
    {"docker_tag": "a" * 300},
    {"docker_tag": "line\nbreak"},
]


def test_hostile_trigger_bodies_are_refused_before_git_is_asked(
    client, settings, clean_redis, spawned
):
    auth = {"Authorization": f"Bearer {TRIGGER_TOKEN}"}
    for body in TRIGGER_BODIES:
        answer = client.post(
            "/api/v1/repositories/github/octo/abuse/trigger", json=body, headers=auth
        )
        assert answer.status_code == 400, (body, answer.get_json())
    for raw in (b'{"source_type": "Branch", "source_name": "caf\xe9\xff"}', b"\xff\xfe{}"):
        answer = client.post(
            "/api/v1/repositories/github/octo/abuse/trigger",
            data=raw,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, (raw, answer.get_json())
    assert_nothing_ran(settings, clean_redis, spawned)


def test_hostile_repository_names_in_the_trigger_url_are_not_found(
    client, settings, clean_redis, spawned
):
    auth = {"Authorization": f"Bearer {TRIGGER_TOKEN}"}
    for name in ["--upload-pack=x", "-c", "../../x", "octo/abuse/../../x", "a" * 300, "a%0Ab"]:
        answer = client.post(f"/api/v1/repositories/github/{name}/trigger", headers=auth)
        assert answer.status_code == 404, (name, answer.get_json())
    answer = client.post("/api/v1/repositories/--upload-pack=x/octo/abuse/trigger", headers=auth)
    assert answer.status_code == 404
    assert_nothing_ran(settings, clean_redis, spawned)


def test_a_good_trigger_runs_only_git_ls_remote_on_the_configured_url(
    client, settings, clean_redis, spawned
):
    """The control: the trigger does ask git, with the configured URL after ``--``."""
    answer = client.post(
        "/api/v1/repositories/github/octo/abuse/trigger",
        json={"source_type": "Branch", "source_name": "master"},
        headers={"Authorization": f"Bearer {TRIGGER_TOKEN}"},
    )
    assert answer.status_code == 202, answer.get_json()
    (argv,) = spawned
    # env -u <every other variable> git -c <safe config> ... ls-remote ... -- <configured URL>
    assert argv[0] == ENV_EXECUTABLE and argv[argv.index("git") + 1] == "-c"
    assert "ls-remote" in argv
    assert argv[argv.index("--") + 1].startswith("file://")


def test_hostile_build_ids_are_not_found(client, spawned):
    for build_id in ["--upload-pack=x", "../../x", "a" * 300, "a\nb", "%ff%fe"]:
        for suffix in ("", "/logs"):
            answer = client.get(f"/api/v1/builds/{build_id}{suffix}")
            assert answer.status_code == 404, (build_id, answer.status_code)
    assert spawned == []


# --- bodies over the limit, against real servers ------------------------------------------------

LIMIT = 64 * 1024


def _read_answer(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def _huge_content_length(port: int, path: str) -> tuple[int, float]:
    """Claim a 10 GB body, send 100 bytes of it, and wait for the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TRIGGER_TOKEN}\r\n"
            f"X-GitHub-Event: push\r\nContent-Length: {10**10}\r\n\r\n".encode()
            + b"{" * 100
        )
        answer = _read_answer(sock)
        return _status(answer), time.monotonic() - started


def _chunked(port: int, path: str, total: int) -> int:
    """Send a chunked body (no Content-Length) of ``total`` bytes, or until the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "X-GitHub-Event: push\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b" " * 16384
        sent = 0
        try:
            while sent < total:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: read what it said
        return _status(_read_answer(sock))


@pytest.fixture
def limited_settings(tmp_path, redis_url):
    config = tmp_path / "limit.yml"
    config.write_text(
        textwrap.dedent(
            """
            repositories:
              - provider: github
                name: octo/limit
                clone_url: https://git.example.invalid/octo/limit.git
                image: 127.0.0.1:5000/octo/limit
                webhook_secret_env: LIMIT_SECRET
                trigger_token_env: LIMIT_TRIGGER
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
            """
        )
    )
    return make_settings(
        config,
        redis_url,
        tmp_path,
        LIMIT_SECRET=SECRET,
        LIMIT_TRIGGER=TRIGGER_TOKEN,
        AUTOBUILD_MAX_BODY_BYTES=str(LIMIT),
    )


@pytest.fixture
def werkzeug_port(limited_settings) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, make_app(limited_settings), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn_port(limited_settings) -> Iterator[int]:
    """``autobuild web`` (gunicorn, as production runs it) on a free loopback port."""
    if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("gunicorn is not installed in the virtual environment")
    port = _free_port()
    env = {**os.environ, **dict(limited_settings.environ)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "web", "--port", str(port), "--workers", "1"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start within 30 s")
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


@pytest.mark.parametrize("server", ["werkzeug_port", "gunicorn_port"])
@pytest.mark.parametrize(
    "path", ["/webhooks/github", "/api/v1/repositories/github/octo/limit/trigger"]
)
def test_a_huge_content_length_is_answered_413_without_the_body(request, server, path):
    port = request.getfixturevalue(server)
    status, seconds = _huge_content_length(port, path)
    assert status == 413
    assert seconds < 3  # answered at once, not after a read timeout


@pytest.mark.parametrize("server", ["werkzeug_port", "gunicorn_port"])
def test_a_chunked_body_over_the_limit_is_refused(request, server):
    port = request.getfixturevalue(server)
    assert _chunked(port, "/webhooks/github", 4 * LIMIT) == 413


@pytest.mark.parametrize("server", ["werkzeug_port", "gunicorn_port"])
def test_a_body_under_the_limit_is_read(request, server):
    """The control: a small chunked body is read and judged (here: no signature, 401)."""
    port = request.getfixturevalue(server)
    body = json.dumps(github_push("octo/limit", "refs/heads/master", SHA)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        assert _status(_read_answer(sock)) == 401
