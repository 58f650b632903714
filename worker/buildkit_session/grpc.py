"""gRPC over HTTP/2, the server side of one unary call: message framing and status trailers.

https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md: every message is a 5-byte prefix
(a compression flag byte, then the length as a big-endian uint32) and the message; the answer is
``:status 200`` headers, the framed messages, and trailers carrying ``grpc-status`` (0 = OK) and
an optional percent-encoded ``grpc-message``.
"""

from __future__ import annotations

import enum
import struct
from urllib.parse import quote

PREFIX = struct.Struct(">?I")  # compressed flag, message length
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # BuildKit's own limit for session messages
CONTENT_TYPE = "application/grpc"


class Status(enum.IntEnum):
    """The gRPC status codes this server answers with."""

    OK = 0
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14


class GrpcError(Exception):
    """A call that ends with a non-OK status; ``message`` goes to the daemon, so it must never
    hold a secret."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(f"{status.name}: {message}")
        self.status = status
        self.message = message


def frame(message: bytes) -> bytes:
    """One length-prefixed, uncompressed message."""
    return PREFIX.pack(False, len(message)) + message


def unframe(body: bytes) -> list[bytes]:
    """Every message in a request body (a unary call has exactly one)."""
    messages = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < PREFIX.size:
            raise GrpcError(Status.INVALID_ARGUMENT, "truncated gRPC message prefix")
        compressed, length = PREFIX.unpack_from(body, pos)
        pos += PREFIX.size
        if compressed:
            raise GrpcError(Status.UNIMPLEMENTED, "compressed gRPC messages are not supported")
        if length > MAX_MESSAGE_BYTES:
            raise GrpcError(Status.RESOURCE_EXHAUSTED, f"gRPC message of {length} bytes")
        if len(body) - pos < length:
            raise GrpcError(Status.INVALID_ARGUMENT, "truncated gRPC message")
        messages.append(body[pos : pos + length])
        pos += length
    return messages


def single_message(body: bytes) -> bytes:
    """The one message of a unary request."""
    messages = unframe(body)
    if len(messages) != 1:
        raise GrpcError(
            Status.INVALID_ARGUMENT, f"a unary call carries one message, not {len(messages)}"
        )
    return messages[0]


def response_headers() -> list[tuple[str, str]]:
    return [(":status", "200"), ("content-type", CONTENT_TYPE)]


def trailers(status: Status, message: str = "") -> list[tuple[str, str]]:
    """The trailers that end a call; ``grpc-message`` is percent-encoded as the spec asks."""
    fields = [("grpc-status", str(int(status)))]
    if message:
        fields.append(("grpc-message", quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")))
    return fields
