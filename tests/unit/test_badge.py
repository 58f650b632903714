"""The SVG status badge: well-formed, escaped, and about the right build."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.badge import badge_for, latest_build, render_badge, text_width
from core.build import BuildRecord, BuildStatus
from core.events import RefType

SVG = "{http://www.w3.org/2000/svg}"


def record(status, tags=("latest",), n=0):
    return BuildRecord(
        id=f"b{n}", provider="github", repository="octo/app", source_type=RefType.BRANCH,
        source_name="master", commit="c" * 40, image="r/octo/app", docker_tags=tags,
        dockerfile="Dockerfile", context="/", status=status,
    )  # fmt: skip


def parse(svg):
    return ET.fromstring(svg)


def test_the_badge_is_well_formed_svg_with_label_and_message():
    root = parse(render_badge("build", "passing", "#44cc11"))
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == "build: passing"
    assert root.get("aria-label") == "build: passing"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("build") == 2 and texts.count("passing") == 2  # text and its shadow
    assert "#44cc11" in [r.get("fill") for r in root.iter(f"{SVG}rect")]


def test_the_width_follows_the_text():
    short = int(parse(render_badge("build", "ok", "#000")).get("width"))
    long = int(parse(render_badge("build", "not configured", "#000")).get("width"))
    assert long > short
    assert text_width("mmmm") > text_width("iiii")


def test_text_is_escaped():
    root = parse(render_badge('build <x> & "y"', "a<b", "#000"))
    assert root.find(f"{SVG}title").text == 'build <x> & "y": a<b'


def test_statuses_map_to_words_and_colors():
    assert "passing" in badge_for(record(BuildStatus.SUCCESS))
    assert "failing" in badge_for(record(BuildStatus.FAILED))
    assert "building" in badge_for(record(BuildStatus.PUSHING))
    assert "timed out" in badge_for(record(BuildStatus.TIMED_OUT))
    assert "unknown" in badge_for(None)
    assert parse(badge_for(None, "1.2")).find(f"{SVG}title").text == "build 1.2: unknown"


def test_canceled_and_superseded_builds_are_looked_past():
    builds = [record(BuildStatus.CANCELED, n=1), record(BuildStatus.SUPERSEDED, n=2),
              record(BuildStatus.FAILED, n=3), record(BuildStatus.SUCCESS, n=4)]  # fmt: skip
    assert latest_build(builds).id == "b3"
    assert latest_build(builds[:2]) is None


def test_a_tag_picks_the_latest_build_carrying_it():
    builds = [record(BuildStatus.FAILED, ("edge",), 1), record(BuildStatus.SUCCESS, ("1.0",), 2)]
    assert latest_build(builds, "1.0").id == "b2"
    assert latest_build(builds, "edge").id == "b1"
    assert latest_build(builds, "nope") is None
