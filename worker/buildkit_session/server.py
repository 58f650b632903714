"""A gRPC server for unary calls on one HTTP/2 connection the daemon opened to us.

``h2`` (the pure-Python HTTP/2 state machine) does the protocol: frames, HPACK, flow control and
settings; this module turns its events into calls of :mod:`services` and writes the answers. It
runs in one thread that alone touches the ``h2`` connection; another thread stops it with
:meth:`GrpcConnection.stop` (which shuts the socket down and so wakes the blocked ``recv``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from worker.buildkit_session.grpc import (
    GrpcError,
    Status,
    frame,
    response_headers,
    single_message,
    trailers,
)
from worker.buildkit_session.services import Method, call

POLL_SECONDS = 0.5  # how often the loop looks at its deadline while the daemon is silent
MAX_REQUEST_BYTES = 1024 * 1024  # session requests are a host name or a secret id


@dataclass(frozen=True)
class Served:
    """One call the daemon made: the method and how it ended (never the payloads)."""

    method: str
    status: Status


@dataclass
class _Stream:
    path: str = ""
    body: bytearray = field(default_factory=bytearray)
    answer: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    answering: bool = False


class GrpcConnection:
    """Serves ``methods`` on ``sock`` until the daemon goes, :meth:`stop`, or ``deadline``
    (a ``time.monotonic()`` value). ``initial`` is what was read past the HTTP/1.1 upgrade."""

    def __init__(
        self,
        sock: socket.socket,
        methods: Mapping[str, Method],
        initial: bytes = b"",
        on_call: Callable[[Served], None] = lambda served: None,
    ) -> None:
        self._sock = sock
        self._methods = methods
        self._initial = initial
        self._on_call = on_call
        self._stopping = threading.Event()
        self._streams: dict[int, _Stream] = {}
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )

    def stop(self) -> None:
        """Make :meth:`serve` return soon (from any thread)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def serve(self, deadline: float) -> str:
        """Answer calls until the end; returns why it ended (``stopped``, ``closed by the
        daemon``, ``deadline``). A broken connection raises ``OSError``, a protocol error
        an ``h2.exceptions.H2Error``."""
        try:
            return self._serve(deadline)
        except OSError:
            if self._stopping.is_set():  # stop() shut the socket under a send or a receive
                return "stopped"
            raise

    def _serve(self, deadline: float) -> str:
        self._h2.initiate_connection()
        self._flush()
        pending = self._initial
        while not self._stopping.is_set():
            if pending:
                self._handle(self._h2.receive_data(pending))
                self._flush()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "deadline"
            self._sock.settimeout(min(POLL_SECONDS, remaining))
            try:
                pending = self._sock.recv(65536)
            except TimeoutError:
                pending = b""
                continue
            if not pending:
                break
        return "stopped" if self._stopping.is_set() else "closed by the daemon"

    # -- events ---------------------------------------------------------------------------------
    def _handle(self, events: list[h2.events.Event]) -> None:
        for event in events:
            if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                path = next((v for k, v in event.headers or [] if k in (":path", b":path")), "")
                self._streams[event.stream_id] = _Stream(path=_text(path))
            elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                self._received(event.stream_id, event.data or b"", event.flow_controlled_length)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id is not None:
                self._answer(event.stream_id)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id is not None:
                self._streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.WindowUpdated):
                for stream_id in [s for s, st in self._streams.items() if st.answering]:
                    self._send_answer(stream_id)

    def _received(self, stream_id: int, data: bytes, flow_length: int | None) -> None:
        if flow_length:
            self._h2.acknowledge_received_data(flow_length, stream_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.body += data
        if len(stream.body) > MAX_REQUEST_BYTES:
            self._streams.pop(stream_id)
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)

    def _answer(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        try:
            stream.answer = frame(
                call(self._methods, stream.path, single_message(bytes(stream.body)))
            )
            status, message = Status.OK, ""
        except GrpcError as error:
            status, message = error.status, error.message
        stream.body = bytearray()
        stream.trailers = trailers(status, message)
        stream.answering = True
        self._h2.send_headers(stream_id, response_headers())
        self._send_answer(stream_id)
        self._on_call(Served(stream.path, status))

    def _send_answer(self, stream_id: int) -> None:
        """Send as much of the answer as flow control allows; the trailers after the last byte."""
        stream = self._streams[stream_id]
        while stream.answer:
            size = min(
                self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
            )
            if size <= 0:
                return  # the rest goes when the daemon opens its window (WindowUpdated)
            self._h2.send_data(stream_id, stream.answer[:size])
            stream.answer = stream.answer[size:]
        self._h2.send_headers(stream_id, stream.trailers, end_stream=True)
        del self._streams[stream_id]

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._sock.sendall(data)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
