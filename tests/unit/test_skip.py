"""Skip markers in the head commit message."""

from __future__ import annotations

import pytest

from buildrules.skip import SKIP_MARKERS, skip_marker


@pytest.mark.parametrize("marker", SKIP_MARKERS)
def test_each_marker_is_found_and_named(marker: str) -> None:
    assert skip_marker(f"Update README {marker}") == marker


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("[SKIP CI] docs", "[skip ci]"),
        ("docs\n\nBody text [Build Skip]", "[build skip]"),
        ("[No Ci]", "[no ci]"),
        ("fix [ci skip] and [skip build]", "[ci skip]"),
    ],
)
def test_markers_match_in_any_case_anywhere_in_the_message(message: str, expected: str) -> None:
    assert skip_marker(message) == expected


@pytest.mark.parametrize(
    "message",
    ["", None, "skip ci", "[skip-ci]", "[skipci]", "[ skip ci ]", "(skip ci)", "[skip actions]"],
)
def test_other_text_is_not_a_marker(message: str | None) -> None:
    assert skip_marker(message) is None
