"""The protobuf wire reader and BuildKit's StatusResponse decoded from it."""

from __future__ import annotations

import base64

import pytest

from tests.unit.protobuf_encoder import field, log, status, vertex, warning
from worker.buildkit.status import decode_trace, parse_status
from worker.buildkit.wire import WireError, iter_fields, read_varint


def test_a_varint_reads_across_several_bytes():
    assert read_varint(b"\xac\x02", 0) == (300, 2)


def test_fields_of_every_wire_type_are_read_and_unknown_ones_skipped():
    data = field(1, 150) + b"\x11" + (7).to_bytes(8, "little") + field(3, "hi") + b"\x25\x01\0\0\0"
    assert [(f.number, f.value) for f in iter_fields(data)] == [
        (1, 150),
        (2, 7),
        (3, b"hi"),
        (4, 1),
    ]


@pytest.mark.parametrize(
    "data", [b"\x0a\x05ab", b"\x08\xff", b"\x0b", b"\x00\x01", b"\x08" + b"\xff" * 11]
)
def test_malformed_messages_raise_wire_error(data):
    with pytest.raises(WireError):
        list(iter_fields(data))


def test_a_status_response_decodes_vertexes_statuses_logs_and_warnings():
    data = (
        vertex("sha256:a", "[2/3] RUN make", started=10.5, completed=12.0, inputs=("sha256:p",))
        + vertex("sha256:b", "[3/3] COPY . /", cached=True)
        + vertex("sha256:c", "[x] RUN false", started=1.0, completed=2.0, error="exit code: 1")
        + status("sha256:a", "transferring", current=2048, total=4096, completed=11.0)
        + log("sha256:a", "cc -o app\n", at=11.25, stream=2)
        + warning("sha256:a", "deprecated", "use something else")
    )
    response = parse_status(data)
    first, cached, failed = response.vertexes
    assert (first.digest, first.name, first.inputs) == ("sha256:a", "[2/3] RUN make", ("sha256:p",))
    assert (first.started, first.completed, first.cached) == (10.5, 12.0, False)
    assert cached.cached and cached.started is None
    assert failed.error == "exit code: 1"
    (progress,) = response.statuses
    assert (progress.id, progress.vertex, progress.current, progress.total) == (
        "transferring",
        "sha256:a",
        2048,
        4096,
    )
    assert progress.completed == 11.0
    (output,) = response.logs
    assert (output.vertex, output.stream, output.data, output.timestamp) == (
        "sha256:a",
        2,
        b"cc -o app\n",
        11.25,
    )
    (warned,) = response.warnings
    assert (warned.short, warned.detail) == ("deprecated", ("use something else",))


def test_a_trace_that_is_not_base64_or_not_protobuf_is_ignored_not_fatal():
    assert decode_trace("not base64!") is None
    assert decode_trace(base64.b64encode(b"\x0a\x05ab").decode()) is None
    assert decode_trace(None) is None
    assert decode_trace(base64.b64encode(vertex("sha256:a", "x")).decode()) is not None
