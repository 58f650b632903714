"""Trigger bodies: names git or Docker would refuse (or read as options) are refused up front."""

from __future__ import annotations

import pytest

from core.events import RefType
from core.gitnames import short_name_problem as ref_name_problem
from core.trigger import TriggerError, TriggerKind, parse_trigger_body


@pytest.mark.parametrize(
    "name",
    ["--upload-pack=x", "-c", "../../x", "a/../b", "a..b", "x.lock", ".hidden", "a b", "a~1",
     "a^", "a:b", "@", "a@{1}", "a//b", "/a", "a/", "a.", "bell\x07", "lone\udcff"],
)  # fmt: skip
def test_hostile_or_invalid_ref_names_are_refused(name):
    assert ref_name_problem(name) is not None
    with pytest.raises(TriggerError) as raised:
        parse_trigger_body({"source_type": "Branch", "source_name": name})
    assert raised.value.status == 400


@pytest.mark.parametrize("name", ["main", "feature/x-1", "v1.2.3", "release_2024", "a@b"])
def test_ordinary_ref_names_pass(name):
    assert ref_name_problem(name) is None
    request = parse_trigger_body({"source_type": "Tag", "source_name": name})
    assert request.kind is TriggerKind.REF and request.ref_type is RefType.TAG


@pytest.mark.parametrize("tag", ["-c", ".x", "a/b", "a" * 129, "../../x", "tag with space"])
def test_invalid_docker_tags_are_refused(tag):
    with pytest.raises(TriggerError):
        parse_trigger_body({"docker_tag": tag})


def test_long_and_multiline_values_are_refused():
    for value in ("a" * 300, "line\nbreak"):
        with pytest.raises(TriggerError):
            parse_trigger_body({"source_type": "Branch", "source_name": value})
