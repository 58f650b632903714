"""A tiny protobuf encoder for the tests of the BuildKit trace reader (the reader's inverse)."""

from __future__ import annotations

import base64


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def timestamp(seconds: float) -> bytes:
    whole = int(seconds)
    return field(1, whole) + field(2, round((seconds - whole) * 1e9))


def vertex(
    digest: str,
    name: str = "",
    *,
    started: float | None = None,
    completed: float | None = None,
    cached: bool = False,
    error: str = "",
    inputs: tuple[str, ...] = (),
) -> bytes:
    data = field(1, digest)
    for item in inputs:
        data += field(2, item)
    if name:
        data += field(3, name)
    if cached:
        data += field(4, 1)
    if started is not None:
        data += field(5, timestamp(started))
    if completed is not None:
        data += field(6, timestamp(completed))
    if error:
        data += field(7, error)
    return field(1, data)


def status(
    vertex_digest: str,
    status_id: str,
    *,
    current: int = 0,
    total: int = 0,
    completed: float | None = None,
) -> bytes:
    data = field(1, status_id) + field(2, vertex_digest) + field(4, current) + field(5, total)
    if completed is not None:
        data += field(8, timestamp(completed))
    return field(2, data)


def log(vertex_digest: str, text: str, *, at: float | None = None, stream: int = 1) -> bytes:
    data = field(1, vertex_digest)
    if at is not None:
        data += field(2, timestamp(at))
    return field(3, data + field(3, stream) + field(4, text.encode()))


def warning(vertex_digest: str, short: str, *details: str) -> bytes:
    data = field(1, vertex_digest) + field(2, 1) + field(3, short)
    for detail in details:
        data += field(4, detail)
    return field(4, data)


def trace_record(*parts: bytes) -> dict[str, object]:
    """A stream record as the daemon sends it."""
    return {"id": "moby.buildkit.trace", "aux": base64.b64encode(b"".join(parts)).decode()}
