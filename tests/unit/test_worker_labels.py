"""The one-step labelling build: its Dockerfile quotes every value safely."""

from __future__ import annotations

import tarfile

from worker.labels import label_context, label_dockerfile, quote


def test_values_are_double_quoted_with_backslash_quote_and_dollar_escaped():
    assert quote("plain") == '"plain"'
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("C:\\path") == '"C:\\\\path"'
    assert quote("$HOME and ${X}") == '"\\$HOME and \\${X}"'


def test_a_newline_cannot_end_the_instruction():
    assert "\n" not in quote("line one\nFROM evil\r\n")


def test_the_dockerfile_is_from_the_image_and_one_label_instruction_sorted_by_key():
    text = label_dockerfile("sha256:" + "f" * 64, {"b.key": "2", "a.key": "1"})
    lines = text.splitlines()
    assert lines == [f"FROM sha256:{'f' * 64}", 'LABEL "a.key"="1" "b.key"="2"']


def test_the_context_is_a_tar_with_just_the_dockerfile():
    buffer = label_context("sha256:" + "0" * 64, {"k": "v"})
    with tarfile.open(fileobj=buffer) as tar:
        assert tar.getnames() == ["Dockerfile"]
        member = tar.extractfile("Dockerfile")
        assert member is not None
        assert member.read().decode().startswith("FROM sha256:")
