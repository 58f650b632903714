"""BuildKit trace records (StatusResponse protobuf) read into ``--progress=plain`` lines."""

from __future__ import annotations

from worker.buildkit_session.proto import length_field, varint_field
from worker.trace_lines import TraceLines

STARTED = length_field(5, varint_field(1, 1700000000))  # a Timestamp message
COMPLETED = length_field(6, varint_field(1, 1700000001))


def vertex(digest: str, name: str, *extra: bytes) -> bytes:
    return length_field(1, length_field(1, digest) + length_field(3, name) + b"".join(extra))


def log(digest: str, message: bytes) -> bytes:
    return length_field(3, length_field(1, digest) + varint_field(3, 1) + length_field(4, message))


def test_a_step_starts_prints_its_output_and_ends() -> None:
    trace = TraceLines()
    assert trace.feed(vertex("sha256:a", "[1/2] FROM base", STARTED)) == ["#1 [1/2] FROM base"]
    assert trace.feed(vertex("sha256:b", "[2/2] RUN make", STARTED)) == ["#2 [2/2] RUN make"]
    assert trace.feed(log("sha256:b", b"compiling\nlinking")) == ["#2 compiling"]
    assert trace.feed(vertex("sha256:b", "[2/2] RUN make", STARTED, COMPLETED)) == [
        "#2 linking",
        "#2 DONE",
    ]
    assert trace.feed(vertex("sha256:a", "[1/2] FROM base", STARTED, COMPLETED)) == ["#1 DONE"]


def test_a_repeated_vertex_is_announced_once() -> None:
    trace = TraceLines()
    trace.feed(vertex("d", "step", STARTED))
    assert trace.feed(vertex("d", "step", STARTED)) == []


def test_a_cached_step_says_cached() -> None:
    cached = varint_field(4, 1)
    assert TraceLines().feed(vertex("d", "[2/2] RUN x", cached, STARTED, COMPLETED)) == [
        "#1 [2/2] RUN x",
        "#1 CACHED",
    ]


def test_a_failed_step_says_its_error_and_keeps_the_last_output() -> None:
    trace = TraceLines()
    trace.feed(vertex("d", "[2/2] RUN false", STARTED))
    trace.feed(log("d", b"one\ntwo\n"))
    error = length_field(7, "process did not complete successfully: exit code: 1")
    lines = trace.feed(vertex("d", "[2/2] RUN false", STARTED, COMPLETED, error))
    assert lines == ["#1 ERROR: process did not complete successfully: exit code: 1"]
    assert trace.last_output == ["one", "two"]
    assert trace.last_error is not None and "exit code: 1" in trace.last_error


def test_a_carriage_return_keeps_what_a_terminal_shows() -> None:
    trace = TraceLines()
    assert trace.feed(log("d", b"10%\r50%\r100%\n")) == ["#1 100%"]


def test_an_unreadable_record_becomes_one_line() -> None:
    assert TraceLines().feed(b"\x0a\x05ab") == [
        "(unreadable BuildKit trace record: field 1 runs past the end of the message)"
    ]
