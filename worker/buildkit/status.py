"""``moby.buildkit.v1.StatusResponse`` (api/services/control/control.proto) as frozen values.

Field numbers, from moby/buildkit's ``control.proto``::

    StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2;
                     repeated VertexLog logs = 3; repeated VertexWarning warnings = 4; }
    Vertex         { string digest = 1; repeated string inputs = 2; string name = 3;
                     bool cached = 4; Timestamp started = 5; Timestamp completed = 6;
                     string error = 7; ProgressGroup progressGroup = 8; }
    VertexStatus   { string ID = 1; string vertex = 2; string name = 3; int64 current = 4;
                     int64 total = 5; Timestamp timestamp = 6; started = 7; completed = 8; }
    VertexLog      { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3; bytes msg = 4; }
    VertexWarning  { string vertex = 1; int64 level = 2; bytes short = 3;
                     repeated bytes detail = 4; string url = 5; ... }
    google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }

The daemon sends them base64-encoded as the ``aux`` of stream records whose ``id`` is
``moby.buildkit.trace``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from worker.buildkit.wire import WireError, iter_fields

TRACE_ID = "moby.buildkit.trace"
IMAGE_ID = "moby.image.id"


@dataclass(frozen=True)
class Vertex:
    digest: str
    name: str = ""
    inputs: tuple[str, ...] = ()
    cached: bool = False
    started: float | None = None  # seconds since the epoch
    completed: float | None = None
    error: str = ""


@dataclass(frozen=True)
class VertexStatus:
    id: str
    vertex: str
    name: str = ""
    current: int = 0
    total: int = 0
    timestamp: float | None = None
    started: float | None = None
    completed: float | None = None


@dataclass(frozen=True)
class VertexLog:
    vertex: str
    stream: int  # 1 stdout, 2 stderr
    data: bytes
    timestamp: float | None = None


@dataclass(frozen=True)
class VertexWarning:
    vertex: str
    level: int
    short: str
    detail: tuple[str, ...] = ()
    url: str = ""


@dataclass(frozen=True)
class StatusResponse:
    vertexes: tuple[Vertex, ...] = ()
    statuses: tuple[VertexStatus, ...] = ()
    logs: tuple[VertexLog, ...] = ()
    warnings: tuple[VertexWarning, ...] = ()


def _timestamp(data: bytes) -> float:
    seconds = nanos = 0
    for f in iter_fields(data):
        if f.number == 1:
            seconds = f.signed
        elif f.number == 2:
            nanos = f.signed
    return seconds + nanos / 1e9


def parse_vertex(data: bytes) -> Vertex:
    digest = name = error = ""
    inputs: list[str] = []
    cached = False
    started = completed = None
    for f in iter_fields(data):
        if f.number == 1:
            digest = f.text
        elif f.number == 2:
            inputs.append(f.text)
        elif f.number == 3:
            name = f.text
        elif f.number == 4:
            cached = bool(f.number_value)
        elif f.number == 5:
            started = _timestamp(f.data)
        elif f.number == 6:
            completed = _timestamp(f.data)
        elif f.number == 7:
            error = f.text
    return Vertex(digest, name, tuple(inputs), cached, started, completed, error)


def parse_vertex_status(data: bytes) -> VertexStatus:
    texts = {1: "", 2: "", 3: ""}
    numbers = {4: 0, 5: 0}
    times: dict[int, float | None] = {6: None, 7: None, 8: None}
    for f in iter_fields(data):
        if f.number in texts:
            texts[f.number] = f.text
        elif f.number in numbers:
            numbers[f.number] = f.signed
        elif f.number in times:
            times[f.number] = _timestamp(f.data)
    return VertexStatus(
        id=texts[1],
        vertex=texts[2],
        name=texts[3],
        current=numbers[4],
        total=numbers[5],
        timestamp=times[6],
        started=times[7],
        completed=times[8],
    )


def parse_vertex_log(data: bytes) -> VertexLog:
    vertex = ""
    stream = 0
    message = b""
    timestamp = None
    for f in iter_fields(data):
        if f.number == 1:
            vertex = f.text
        elif f.number == 2:
            timestamp = _timestamp(f.data)
        elif f.number == 3:
            stream = f.signed
        elif f.number == 4:
            message = f.data
    return VertexLog(vertex, stream, message, timestamp)


def parse_vertex_warning(data: bytes) -> VertexWarning:
    vertex = short = url = ""
    level = 0
    detail: list[str] = []
    for f in iter_fields(data):
        if f.number == 1:
            vertex = f.text
        elif f.number == 2:
            level = f.signed
        elif f.number == 3:
            short = f.text
        elif f.number == 4:
            detail.append(f.text)
        elif f.number == 5:
            url = f.text
    return VertexWarning(vertex, level, short, tuple(detail), url)


def parse_status(data: bytes) -> StatusResponse:
    """One ``StatusResponse`` from its wire bytes; :class:`WireError` when malformed."""
    vertexes: list[Vertex] = []
    statuses: list[VertexStatus] = []
    logs: list[VertexLog] = []
    warnings: list[VertexWarning] = []
    for f in iter_fields(data):
        if f.number == 1:
            vertexes.append(parse_vertex(f.data))
        elif f.number == 2:
            statuses.append(parse_vertex_status(f.data))
        elif f.number == 3:
            logs.append(parse_vertex_log(f.data))
        elif f.number == 4:
            warnings.append(parse_vertex_warning(f.data))
    return StatusResponse(tuple(vertexes), tuple(statuses), tuple(logs), tuple(warnings))


def decode_trace(aux: object) -> StatusResponse | None:
    """The ``aux`` of a ``moby.buildkit.trace`` record (base64 text) decoded; None when it is
    not base64 or not a well-formed message (a trace record is never worth failing a build)."""
    if not isinstance(aux, str):
        return None
    try:
        return parse_status(base64.b64decode(aux, validate=True))
    except (binascii.Error, WireError, ValueError):
        return None
