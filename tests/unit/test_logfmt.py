"""Structured log lines: key=value, one line per record, with the build id, secrets masked."""

from __future__ import annotations

import io
import logging

from core.logfmt import (
    KeyValueFormatter,
    MaskingFilter,
    StructuredHandler,
    build_context,
    configure_logging,
    logfmt_value,
    parse_logfmt,
)
from core.masking import Masker


def record(msg: str, *args: object, exc: BaseException | None = None, **extra: object):
    rec = logging.LogRecord("worker.jobs", logging.INFO, __file__, 1, msg, args, None)
    if exc is not None:
        rec.exc_info = (type(exc), exc, exc.__traceback__)
    rec.__dict__.update(extra)
    return rec


def test_a_record_is_one_line_of_key_value_pairs():
    line = KeyValueFormatter().format(record("Build %s started", "abc", build_id="abc"))
    fields = parse_logfmt(line)
    assert "\n" not in line
    assert fields["level"] == "info"
    assert fields["logger"] == "worker.jobs"
    assert fields["build_id"] == "abc"
    assert fields["msg"] == "Build abc started"
    assert fields["ts"].endswith("Z")


def test_the_build_context_gives_every_record_inside_it_the_build_id():
    formatter = KeyValueFormatter()
    with build_context("b-123"):
        inside = parse_logfmt(formatter.format(record("working")))
    outside = parse_logfmt(formatter.format(record("idle")))
    assert inside["build_id"] == "b-123"
    assert "build_id" not in outside


def test_extra_fields_become_keys_and_none_values_are_left_out():
    fields = parse_logfmt(
        KeyValueFormatter().format(record("x", provider="github", status=202, delivery_id=None))
    )
    assert fields["provider"] == "github" and fields["status"] == "202"
    assert "delivery_id" not in fields


def test_quotes_newlines_and_spaces_are_escaped_and_read_back():
    text = 'a "quoted"\nsecond line\\ end'
    assert parse_logfmt(f"msg={logfmt_value(text)}")["msg"] == text
    assert logfmt_value("plain-value_1.2") == "plain-value_1.2"


def test_a_traceback_stays_on_the_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        line = KeyValueFormatter().format(record("failed", exc=exc))
    assert "\n" not in line
    assert "RuntimeError: boom" in parse_logfmt(line)["exc"]


def test_the_masking_filter_masks_messages_arguments_and_tracebacks():
    secret = "s3cr3t-value-123"
    masking = MaskingFilter(Masker([secret]))
    try:
        raise RuntimeError(f"token {secret} refused")
    except RuntimeError as exc:
        rec = record("pushing with %s", secret, exc=exc)
    assert masking.filter(rec)
    line = KeyValueFormatter().format(rec)
    assert secret not in line
    assert "******" in parse_logfmt(line)["msg"]
    assert "token ****** refused" in parse_logfmt(line)["exc"]


def test_configure_logging_installs_once_and_keeps_a_process_own_configuration():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        root.handlers = []
        stream = io.StringIO()
        assert configure_logging(Masker(["hunter2-password"]), stream=stream)
        assert configure_logging(Masker(["other-secret-1"]), stream=stream)  # updates, no 2nd
        assert len([h for h in root.handlers if isinstance(h, StructuredHandler)]) == 1
        logging.getLogger("app.test").warning("leaking other-secret-1 here")
        fields = parse_logfmt(stream.getvalue().strip())
        assert fields["msg"] == "leaking ****** here" and fields["level"] == "warning"

        root.handlers = [logging.NullHandler()]
        assert not configure_logging(Masker())  # someone else configured logging: keep it
        assert not any(isinstance(h, StructuredHandler) for h in root.handlers)
    finally:
        root.handlers, level = saved
        root.setLevel(level)
