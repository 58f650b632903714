"""The worker's Docker client never uses the credentials in ``~/.docker/config.json``, and its
streams can be cut from another thread (a cancel)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import types

from docker import auth

from worker.docker_client import WorkerAPIClient


def decode(header: bytes | str) -> dict:
    raw = header.encode() if isinstance(header, str) else header
    return json.loads(base64.urlsafe_b64decode(raw))


def client(**kwargs) -> WorkerAPIClient:
    # An explicit API version: nothing is asked of a daemon when the client is made.
    return WorkerAPIClient(base_url="unix:///nonexistent.sock", version="1.41", **kwargs)


def test_the_workers_docker_config_file_is_ignored(tmp_path, monkeypatch):
    secret = base64.b64encode(b"someone:their-password").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {"auth": secret}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert auth.load_config().get_all_credentials()  # the SDK itself would use it

    api = client()
    api.reload_config()
    headers: dict[str, str] = {}
    api._set_auth_headers(headers)
    assert headers == {}
    assert auth.get_config_header(api, "ghcr.io") is None  # what push/pull would send
    api.close()


def test_builds_get_only_the_configured_registries_credentials():
    api = client(registry_credentials={"127.0.0.1:5001": {"username": "u", "password": "p"}})
    headers: dict[str, str] = {}
    api._set_auth_headers(headers)
    assert decode(headers["X-Registry-Config"]) == {
        "127.0.0.1:5001": {"username": "u", "password": "p", "serveraddress": "127.0.0.1:5001"}
    }
    api.close()


class FakeStreamingResponse:
    """What the SDK's stream helper reads: ``response.raw._fp.fp.raw`` is the socket's file."""

    def __init__(self, sock: socket.socket) -> None:
        fp = types.SimpleNamespace(raw=socket.SocketIO(sock, "rb"))
        self.raw = types.SimpleNamespace(_fp=types.SimpleNamespace(fp=fp, chunked=True))


def test_aborting_wakes_a_reader_blocked_on_a_silent_stream_and_cuts_later_ones():
    api = client()
    daemon_side, ours = socket.socketpair()
    later_daemon_side, later = socket.socketpair()
    try:
        api._stream_helper(FakeStreamingResponse(ours), decode=True)
        read: list[bytes] = []
        reader = threading.Thread(target=lambda: read.append(ours.recv(16)))
        reader.start()  # blocked: the daemon is running a silent RUN step
        api.abort_streams()
        reader.join(timeout=5)
        assert not reader.is_alive() and read == [b""]  # woken with an end of stream
        assert daemon_side.recv(16) == b""  # and the daemon sees its client go

        api._stream_helper(FakeStreamingResponse(later), decode=True)  # a push after the abort
        assert later_daemon_side.recv(16) == b""
    finally:
        for sock in (daemon_side, ours, later_daemon_side, later):
            sock.close()
        api.close()
