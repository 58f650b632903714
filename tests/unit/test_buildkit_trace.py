"""BuildKit's trace as --progress=plain lines, progress as data, and the failing step."""

from __future__ import annotations

import pytest

from tests.unit.protobuf_encoder import log, status, trace_record, vertex, warning
from worker.buildkit.build import consume_trace_stream
from worker.buildkit.status import parse_status
from worker.buildkit.trace import PlainProgress
from worker.errors import DaemonError, DockerBuildError


def feed(progress: PlainProgress, *parts: bytes) -> None:
    progress.feed(parse_status(b"".join(parts)))


def test_steps_are_numbered_in_order_seen_and_every_line_names_its_step():
    lines: list[str] = []
    progress = PlainProgress(lines.append)
    feed(progress, vertex("a", "[internal] load build context", started=1.0))
    feed(progress, vertex("b", "[build 2/4] RUN make", started=2.0))
    feed(progress, log("b", "cc -o app\nlinking", at=2.5), log("a", "ctx\n"))
    feed(progress, log("b", " done\n", at=3.0), vertex("a", "[internal] load", completed=1.2))
    feed(progress, vertex("b", "[build 2/4] RUN make", started=2.0, completed=3.25))
    assert lines == [
        "#1 [internal] load build context",
        "#2 [build 2/4] RUN make",
        "#2 0.500 cc -o app",
        "#1 ctx",
        "#1 DONE 0.2s",  # a record's vertexes come before its logs
        "#2 1.000 linking done",
        "#2 DONE 1.2s",
    ]


def test_a_cached_step_and_a_finished_transfer_are_one_line_each():
    lines: list[str] = []
    progress = PlainProgress(lines.append)
    feed(progress, vertex("a", "[1/2] COPY . /", cached=True))
    feed(progress, vertex("a", "[1/2] COPY . /", cached=True))  # repeated: said once
    feed(progress, vertex("c", "exporting to image", started=5.0))
    feed(progress, status("c", "exporting layers", completed=5.1))
    feed(progress, status("c", "exporting layers", completed=5.1))
    feed(progress, status("c", "transferring context", current=2048, total=0, completed=5.2))
    assert lines == [
        "#1 [1/2] COPY . /",
        "#1 CACHED",
        "#2 exporting to image",
        "#2 exporting layers done",
        "#2 transferring context 2.05kB done",
    ]


def test_progress_counts_steps_done_of_steps_known_as_data():
    seen: list[tuple[int, int]] = []
    progress = PlainProgress(lambda line: None, lambda done, total: seen.append((done, total)))
    feed(progress, vertex("a", "one"), vertex("b", "two"), vertex("c", "three"))
    feed(progress, vertex("a", "one", started=1.0, completed=2.0))
    feed(progress, vertex("b", "two", cached=True))
    feed(progress, log("c", "text\n"))  # no change: no call
    assert seen == [(0, 3), (1, 3), (2, 3)]
    assert progress.progress == (2, 3)


def test_the_failing_step_carries_buildkits_message_and_its_last_output_lines():
    lines: list[str] = []
    progress = PlainProgress(lines.append)
    feed(progress, vertex("i", "importing cache manifest from reg/img:latest", started=1.0))
    feed(progress, vertex("i", "importing cache", started=1.0, completed=1.1, error="not found"))
    feed(progress, vertex("r", "[2/3] RUN make", started=2.0))
    feed(progress, log("r", "".join(f"line {n}\n" for n in range(8))))
    feed(progress, vertex("p", "[other 1/1] RUN sleep 9", started=2.0))
    feed(progress, vertex("r", "[2/3] RUN make", started=2.0, completed=3.0, error="exit code: 2"))
    feed(progress, vertex("p", "x", started=2.0, completed=3.0, error="context canceled"))
    failed = progress.failed
    assert failed is not None
    assert (failed.number, failed.name, failed.error) == (2, "[2/3] RUN make", "exit code: 2")
    assert failed.tail == tuple(f"line {n}" for n in range(3, 8))
    assert failed.sentence() == (
        "Step #2 [2/3] RUN make failed: exit code: 2 (last output: line 5; line 6; line 7)"
    )
    assert "#2 ERROR: exit code: 2" in lines and "#3 ERROR: context canceled" in lines


def test_warnings_name_their_step():
    lines: list[str] = []
    progress = PlainProgress(lines.append)
    feed(progress, vertex("a", "[1/1] FROM x", started=1.0), warning("a", "old syntax", "detail"))
    assert lines[-2:] == ["#1 WARNING: old syntax", "#1 detail"]


def test_a_stream_gives_the_image_id_and_counts_every_record_as_output():
    checks: list[int] = []
    lines: list[str] = []
    chunks = [
        trace_record(vertex("a", "[1/1] RUN true", started=1.0, completed=1.5)),
        {"id": "moby.image.id", "aux": {"ID": "sha256:feed"}},
        {"stream": "Successfully tagged x:latest\n"},
    ]
    image_id = consume_trace_stream(
        chunks, PlainProgress(lines.append), lines.append, lambda: checks.append(1)
    )
    assert image_id == "sha256:feed"
    assert lines == ["#1 [1/1] RUN true", "#1 DONE 0.5s", "Successfully tagged x:latest"]
    assert len(checks) == 4  # one per record, one at the end


def test_an_error_record_raises_with_the_failing_step():
    chunks = [
        trace_record(vertex("a", "[1/1] RUN false", started=1.0)),
        trace_record(log("a", "oops\n")),
        trace_record(vertex("a", "[1/1] RUN false", started=1.0, completed=2.0, error="code: 1")),
        {"errorDetail": {"message": "executor failed"}, "error": "executor failed"},
    ]
    with pytest.raises(DockerBuildError) as failed:
        consume_trace_stream(chunks, PlainProgress(lambda line: None), lambda line: None)
    assert failed.value.message.startswith("Step #1 [1/1] RUN false failed: code: 1")
    assert "(last output: oops)" in failed.value.message


def test_an_error_without_a_failed_step_says_buildkit_failed():
    with pytest.raises(DockerBuildError, match="The BuildKit build failed: dockerfile parse"):
        consume_trace_stream(
            [{"error": "dockerfile parse error line 1"}],
            PlainProgress(lambda line: None),
            lambda line: None,
        )


def test_a_stream_ending_without_an_image_id_is_the_daemons_fault():
    with pytest.raises(DaemonError, match="without an image id"):
        consume_trace_stream([], PlainProgress(lambda line: None), lambda line: None)
