"""Build output shown in a terminal: control characters escaped, tab (and newlines) kept."""

from __future__ import annotations

from cli.terminal import terminal_line, terminal_text


def test_escape_sequences_and_c0_c1_controls_are_shown_escaped():
    line = "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x00\x7f\x85\x9b"
    assert terminal_line(line) == "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x00\\x7f\\x85\\x9b"


def test_tab_and_printable_unicode_are_kept():
    assert terminal_line("a\tb é ✓ 日本") == "a\tb é ✓ 日本"


def test_a_line_keeps_no_newline_but_text_keeps_the_newlines_between_lines():
    assert terminal_line("one\ntwo\r") == "one\\x0atwo\\x0d"
    assert terminal_text("one\ntwo\r\n") == "one\ntwo\\x0d\n"
