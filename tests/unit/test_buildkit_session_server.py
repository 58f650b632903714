"""The session's HTTP/2 side without a daemon: an ``h2`` client on one end of a socket pair plays
the daemon (it calls, we serve), and the HTTP/1.1 upgrade is read from canned answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from worker.buildkit_session import proto
from worker.buildkit_session.grpc import Status, frame, unframe
from worker.buildkit_session.server import GrpcConnection, Served
from worker.buildkit_session.services import HEALTH_CHECK, SECRETS_GET, session_methods
from worker.buildkit_session.upgrade import SessionError, read_upgrade, upgrade_request


class Daemon:
    """The gRPC client end, as the daemon is: sends the preface, then unary calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def call(self, path: str, message: bytes) -> tuple[bytes, dict[str, str]]:
        """One unary call: (response messages' bytes, trailers)."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            stream_id,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ],
        )
        self.conn.send_data(stream_id, frame(message), end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        body, trailer, ended = b"", {}, False
        self.sock.settimeout(5)
        while not ended:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                    body += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailer = cast(dict[str, str], dict(event.headers))  # decoded: str
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                    ended = True
            self.sock.sendall(self.conn.data_to_send())
        return body, trailer


@pytest.fixture
def served() -> Iterator[tuple[Daemon, GrpcConnection, list[Served], list[str]]]:
    ours, theirs = socket.socketpair()
    calls: list[Served] = []
    methods = session_methods({"BIG": b"s" * 200_000, "NPM_TOKEN": b"token-value"}, {})
    server = GrpcConnection(ours, methods, on_call=calls.append)
    ended: list[str] = []
    thread = threading.Thread(target=lambda: ended.append(server.serve(time.monotonic() + 30)))
    thread.start()
    try:
        yield Daemon(theirs), server, calls, ended
    finally:
        server.stop()
        thread.join(5)
        ours.close()
        theirs.close()


def test_a_call_is_answered_with_its_message_and_an_ok_status(served) -> None:
    daemon, _server, calls, _ended = served
    body, trailer = daemon.call(SECRETS_GET, proto.GetSecretRequest("NPM_TOKEN").encode())
    assert proto.GetSecretResponse.decode(unframe(body)[0]).data == b"token-value"
    assert trailer["grpc-status"] == "0"
    assert calls == [Served(SECRETS_GET, Status.OK)]


def test_an_answer_larger_than_the_flow_control_window_arrives_whole(served) -> None:
    daemon, _server, _calls, _ended = served
    body, trailer = daemon.call(SECRETS_GET, proto.GetSecretRequest("BIG").encode())
    assert proto.GetSecretResponse.decode(unframe(body)[0]).data == b"s" * 200_000
    assert trailer["grpc-status"] == "0"


def test_a_failed_call_ends_with_its_status_and_message_in_the_trailers(served) -> None:
    daemon, _server, calls, _ended = served
    body, trailer = daemon.call(SECRETS_GET, proto.GetSecretRequest("NOPE").encode())
    assert body == b""
    assert trailer == {"grpc-status": "5", "grpc-message": "secret NOPE not found"}
    assert calls == [Served(SECRETS_GET, Status.NOT_FOUND)]


def test_calls_after_calls_on_one_connection(served) -> None:
    daemon, _server, calls, _ended = served
    for _ in range(3):
        _body, trailer = daemon.call(HEALTH_CHECK, b"")
        assert trailer["grpc-status"] == "0"
    assert len(calls) == 3


def test_the_daemon_closing_the_connection_ends_the_server(served) -> None:
    daemon, _server, _calls, ended = served
    daemon.call(HEALTH_CHECK, b"")
    daemon.sock.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + 5
    while not ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ended == ["closed by the daemon"]


def test_the_upgrade_request_has_one_header_line_per_method() -> None:
    request = upgrade_request("/v1.41/session", "abc", "autobuild", "key", ["/a/B", "/c/D"])
    lines = request.decode().split("\r\n")
    assert lines[0] == "POST /v1.41/session HTTP/1.1"
    assert "Upgrade: h2c" in lines and "Connection: Upgrade" in lines
    assert "X-Docker-Expose-Session-Uuid: abc" in lines
    methods = [line for line in lines if line.startswith("X-Docker-Expose-Session-Grpc-Method")]
    assert methods == [
        "X-Docker-Expose-Session-Grpc-Method: /a/B",
        "X-Docker-Expose-Session-Grpc-Method: /c/D",
    ]
    assert request.endswith(b"\r\n\r\n")


def test_a_header_value_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        upgrade_request("/session", "abc\r\nX-Evil: 1", "n", "k", [])


def canned(answer: bytes) -> socket.socket:
    ours, theirs = socket.socketpair()
    theirs.sendall(answer)
    theirs.close()
    return ours


def test_the_bytes_after_the_101_are_kept_for_http2() -> None:
    sock = canned(
        b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI * HTTP/2"
    )
    with sock:
        assert read_upgrade(sock) == b"PRI * HTTP/2"


def test_a_refused_session_raises_with_the_daemons_message() -> None:
    answer = (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
        b'{"message":"no upgrade proto in request"}'
    )
    with canned(answer) as sock, pytest.raises(SessionError, match="no upgrade proto in request"):
        read_upgrade(sock)


def test_a_connection_closed_before_the_answer_raises() -> None:
    with canned(b"HTTP/1.1 101 UPGR") as sock, pytest.raises(SessionError, match="closed"):
        read_upgrade(sock)


def test_an_upgrade_to_another_protocol_raises() -> None:
    answer = b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n"
    with canned(answer) as sock, pytest.raises(SessionError, match="not h2c"):
        read_upgrade(sock)


def test_bytes_that_are_not_http2_raise_a_protocol_error() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        server = GrpcConnection(ours, {}, initial=b"GET / HTTP/1.1\r\n\r\n")
        with pytest.raises(h2.exceptions.ProtocolError):
            server.serve(time.monotonic() + 5)


def test_the_server_ends_at_its_deadline() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        Daemon(theirs)  # sends the preface, then says nothing
        assert GrpcConnection(ours, {}).serve(time.monotonic() + 0.3) == "deadline"
