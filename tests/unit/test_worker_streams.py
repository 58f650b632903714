"""Reading Docker's build and push streams: whole lines, errors inside the stream, results."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.loglines import CUT_MARKER, MAX_LINE_CHARS
from worker.docker_build import consume_build_stream, validate_reference
from worker.errors import DaemonError, DockerBuildError, PushError, UserBuildError
from worker.push import consume_push_stream
from worker.streams import LineAssembler, Step, parse_step, status_line, stream_error

DIGEST = "sha256:" + "ab" * 32
IMAGE_ID = "sha256:" + "cd" * 32


# --- line re-assembly ----------------------------------------------------------------------------


def test_fragments_are_joined_into_whole_lines():
    assembler = LineAssembler()
    assert assembler.feed("Step 1/2 : FROM busy") == []
    assert assembler.feed("box") == []
    assert assembler.feed("\n") == ["Step 1/2 : FROM busybox"]
    assert assembler.feed(" ---> abc\nhello\nwor") == [" ---> abc", "hello"]
    assert assembler.flush() == ["wor"]
    assert assembler.flush() == []


def test_carriage_returns_keep_what_a_terminal_would_show():
    assembler = LineAssembler()
    assert assembler.feed("10%\r50%\r100%\r\n") == ["100%"]
    assert assembler.feed("windows line\r\n") == ["windows line"]


def test_empty_lines_are_kept_but_an_empty_rest_is_not_a_line():
    assembler = LineAssembler()
    assert assembler.feed("a\n\nb\n") == ["a", "", "b"]
    assert assembler.flush() == []


@given(st.lists(st.text(alphabet="ab \n", max_size=12), max_size=12))
def test_any_fragmenting_gives_the_same_lines(fragments):
    assembler = LineAssembler()
    lines = []
    for fragment in fragments:
        lines += assembler.feed(fragment)
    lines += assembler.flush()
    text = "".join(fragments)
    expected = text.split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert lines == expected


# --- chunks --------------------------------------------------------------------------------------


def test_stream_error_reads_error_or_error_detail():
    assert stream_error({"stream": "x"}) is None
    assert stream_error({"error": "boom", "errorDetail": {"message": "detail"}}) == "boom"
    assert stream_error({"errorDetail": {"message": "detail", "code": 1}}) == "detail"
    assert stream_error({"error": ""}) == "unknown error"


def test_step_lines_are_parsed_for_progress():
    assert parse_step("Step 3/7 : RUN make") == Step(3, 7)
    assert parse_step(" ---> Running in abc") is None
    assert parse_step("Step 3/7: no space") is None


def test_status_lines_keep_milestones_and_drop_progress_bars():
    assert status_line({"status": "Pushed", "id": "a1"}) == "a1: Pushed"
    assert status_line({"status": "The push refers to repository [x]"}) == (
        "The push refers to repository [x]"
    )
    assert status_line({"status": "Pushing", "id": "a1", "progress": "[==>  ]"}) is None
    assert (
        status_line({"status": "Downloading", "progressDetail": {"current": 5, "total": 9}}) is None
    )
    assert status_line({"status": "Preparing", "id": "a1"}) is None
    assert status_line({"stream": "x"}) is None


# --- build streams -------------------------------------------------------------------------------


def test_a_build_stream_is_logged_line_by_line_and_yields_the_image_id():
    lines = []
    chunks = [
        {"stream": "Step 1/2 : FROM base"},
        {"stream": "\n"},
        {"stream": " ---> 123\n"},
        {"stream": "Step 2/2 : RUN echo hi\n ---> Running in 9\nhi"},
        {"stream": "\n"},
        {"aux": {"ID": IMAGE_ID}},
        {"stream": "Successfully built 456\n"},
    ]
    result = consume_build_stream(chunks, lines.append)
    assert result.image_id == IMAGE_ID
    assert result.last_step == Step(2, 2)
    assert lines == [
        "Step 1/2 : FROM base",
        " ---> 123",
        "Step 2/2 : RUN echo hi",
        " ---> Running in 9",
        "hi",
        "Successfully built 456",
    ]


def test_an_error_chunk_fails_the_build_with_dockers_message_and_the_step():
    lines = []
    chunks = [
        {"stream": "Step 2/3 : RUN exit 3\n"},
        {"stream": "partial output without newline"},
        {
            "errorDetail": {
                "code": 3,
                "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
            },
            "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        },
        {"aux": {"ID": IMAGE_ID}},  # never reached
    ]
    with pytest.raises(DockerBuildError) as caught:
        consume_build_stream(chunks, lines.append)
    assert caught.value.message == (
        "Step 2/3 failed: The command '/bin/sh -c exit 3' returned a non-zero code: 3."
    )
    assert lines[-1] == "partial output without newline"  # flushed before failing


def test_an_error_before_any_step_says_the_build_failed():
    with pytest.raises(DockerBuildError, match=r"^The Docker build failed: pull access denied"):
        consume_build_stream([{"error": "pull access denied"}], lambda line: None)


def test_a_build_stream_without_an_image_id_is_an_error_not_a_success():
    with pytest.raises(DaemonError, match="without an image id"):
        consume_build_stream([{"stream": "Step 1/1 : FROM x\n"}], lambda line: None)


def test_the_checkpoint_runs_for_every_chunk_and_can_stop_the_build():
    calls = []

    def checkpoint():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        consume_build_stream([{"stream": "a\n"}] * 5, lambda line: None, checkpoint)
    assert len(calls) == 2


def test_references_docker_would_refuse_are_refused_first():
    validate_reference("127.0.0.1:5000/team/app", ["latest", "v1.2.3", "feature-x_1"])
    validate_reference("registry.example.com/a/b-c", ["0"])
    validate_reference("app", ["latest"])
    with pytest.raises(UserBuildError, match="not a valid Docker tag"):
        validate_reference("127.0.0.1:5000/app", ["feature/x"])
    with pytest.raises(UserBuildError, match="not a valid Docker tag"):
        validate_reference("127.0.0.1:5000/app", [".hidden"])
    with pytest.raises(UserBuildError, match="not a valid image name"):
        validate_reference("127.0.0.1:5000/Team/App", ["latest"])
    with pytest.raises(UserBuildError, match="not a valid Docker tag"):
        validate_reference("127.0.0.1:5000/app", ["latest\n"])
    with pytest.raises(UserBuildError, match="no tag to build"):
        validate_reference("127.0.0.1:5000/app", [])


# --- push streams --------------------------------------------------------------------------------


def test_a_push_stream_yields_the_digest_of_its_aux_record():
    lines = []
    chunks = [
        {"status": "The push refers to repository [r/x]"},
        {"status": "Preparing", "progressDetail": {}, "id": "l1"},
        {"status": "Pushing", "progressDetail": {"current": 10, "total": 20}, "id": "l1"},
        {"status": "Pushed", "progressDetail": {}, "id": "l1"},
        {"status": f"latest: digest: {DIGEST} size: 527"},
        {"progressDetail": {}, "aux": {"Tag": "latest", "Digest": DIGEST, "Size": 527}},
    ]
    assert consume_push_stream(chunks, "r/x:latest", lines.append) == DIGEST
    assert lines == [
        "The push refers to repository [r/x]",
        "l1: Pushed",
        f"latest: digest: {DIGEST} size: 527",
    ]


def test_an_error_in_a_push_stream_is_a_refusal_naming_the_reference():
    chunks = [
        {"status": "The push refers to repository [r/x]"},
        {
            "errorDetail": {"message": "unauthorized: authentication required"},
            "error": "unauthorized: authentication required",
        },
        {"aux": {"Tag": "latest", "Digest": DIGEST}},
    ]
    with pytest.raises(PushError) as caught:
        consume_push_stream(chunks, "127.0.0.1:5001/x:latest", lambda line: None)
    assert caught.value.message == (
        "Push of 127.0.0.1:5001/x:latest was refused: unauthorized: authentication required."
    )


def test_other_push_errors_are_failures():
    chunks = [{"error": "Get http://127.0.0.1:9/v2/: dial tcp: connection refused"}]
    with pytest.raises(PushError, match=r"^Push of r/x:latest failed: Get"):
        consume_push_stream(chunks, "r/x:latest", lambda line: None)


def test_a_push_stream_without_a_digest_is_not_a_success():
    with pytest.raises(PushError, match="without a digest"):
        consume_push_stream([{"status": "Pushed", "id": "l1"}], "r/x:latest", lambda line: None)


def test_a_malformed_digest_is_refused():
    with pytest.raises(PushError, match="malformed digest"):
        consume_push_stream([{"aux": {"Digest": "sha256:xyz"}}], "r/x:latest", lambda line: None)


# --- hostile lines: cut at 16 KiB, assembled in linear time ---------------------------------------


def test_a_line_longer_than_16_kib_is_cut_with_a_marker():
    assembler = LineAssembler()
    lines = assembler.feed("x" * 40_000 + "\nnext\n")
    assert lines == ["x" * MAX_LINE_CHARS + " " + CUT_MARKER, "next"]
    assert CUT_MARKER == "… line cut at 16 KiB"


def test_a_one_mib_line_in_small_fragments_is_assembled_in_linear_time_and_memory():
    assembler = LineAssembler()
    started = time.perf_counter()
    for _ in range(1024):
        assert assembler.feed("A" * 1024) == []
        assert len(assembler.pending) <= 3 * MAX_LINE_CHARS  # the dropped rest is not kept
    (line,) = assembler.feed("\n")
    assert time.perf_counter() - started < 2  # a hang guard only: bench/loglines.py times it
    assert line == "A" * MAX_LINE_CHARS + " " + CUT_MARKER


def test_a_long_progress_bar_keeps_its_last_state_rather_than_being_cut():
    assembler = LineAssembler()
    for percent in range(10_000):
        assembler.feed(f"\rprogress {percent:>5}%")
    assert assembler.feed("\n") == ["progress  9999%"]
