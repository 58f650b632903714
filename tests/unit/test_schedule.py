"""``schedule:`` on a rule: loading, firing times, and the dry run of a firing."""

from __future__ import annotations

import argparse
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from buildrules.errors import ConfigError
from buildrules.loader import load_text
from buildrules.schedule import Schedule
from cli import match
from core.schedules import Clock, delivery_id, firing_at, plans_at, scheduled_rules

HEAD = """\
repositories:
  - provider: github
    name: acme/app
    clone_url: https://github.com/acme/app.git
    image: 127.0.0.1:5000/acme/app
    build_rules:
"""
NIGHTLY = """\
      - source_type: branch
        source: main
        docker_tag: [nightly, 'nightly-{date:%Y%m%d}']
        schedule: {cron: "0 3 * * *", timezone: Europe/Berlin}
      - source_type: tag
        source: stable
        docker_tag: '{date:%Y%m%d%H%M}'
        schedule: {cron: "0 3 * * *"}
"""


def config(rules: str) -> str:
    return HEAD + textwrap.dedent(rules).replace("\n- ", "\n      - ")


def problems(rules: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(HEAD + rules, "autobuild.yml")
    return [str(p) for p in caught.value.problems]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_schedule_loads_with_its_zone() -> None:
    repository = load_text(HEAD + NIGHTLY).repositories[0]
    assert repository.build_rules[0].schedule == Schedule("0 3 * * *", "Europe/Berlin")
    assert repository.build_rules[1].schedule == Schedule("0 3 * * *", "UTC")


@pytest.mark.parametrize(
    ("rule", "line", "expected"),
    [
        ("source: /^rel-.*$/\n        schedule: {cron: '0 3 * * *'}", 9, "needs a literal source"),
        ("source: main\n        schedule: {cron: '0 25 * * *'}", 9, "not a cron expression"),
        ("source: main\n        schedule: {cron: '0 3 * *'}", 9, "five fields"),
        ("source: main\n        schedule: {cron: '@hourly', timezone: Mars/Base}", 9, "Mars/Base"),
        ("source: main\n        schedule: {timezone: UTC}", 9, "needs 'cron'"),
        ("source: main\n        schedule: {cron: '0 3 * * *', tz: UTC}", 9, "write timezone"),
        ("source: main\n        schedule: nightly", 9, "schedule"),
        ("source: main\n        docker_tag: 'n-{date:%c}'", 9, "%c"),
        ("source: main\n        docker_tag: 'n-{date:%Y/%m}'", 9, "'/'"),
        ("source: main\n        docker_tag: 'n-{commit_date:}'", 9, "empty format"),
        ("source: main\n        build_args: {WHEN: '{date:%Q}'}", 9, "%Q"),
        ("source: main\n        build_args: {W: '{commit_date:%Y}'}", 9, "only for docker_tag"),
    ],
)
def test_bad_schedules_and_date_formats_name_file_and_line(
    rule: str, line: int, expected: str
) -> None:
    found = problems(f"      - source_type: branch\n        {rule}\n")
    assert any(p.startswith(f"autobuild.yml:{line}:") and expected in p for p in found), found


def test_a_build_arg_date_may_hold_characters_a_tag_cannot() -> None:
    rules = "      - source: main\n        source_type: branch\n"
    rules += "        build_args: {BUILD_DATE: '{date:%Y-%m-%dT%H:%M:%SZ}'}\n"
    assert load_text(HEAD + rules).repositories[0].build_rules[0].build_args


def test_firing_times_follow_the_zone_across_dst() -> None:
    berlin = Schedule("0 3 * * *", "Europe/Berlin")
    assert berlin.latest_at_or_before(at("2026-12-04T02:00:00Z")) == at("2026-12-04T02:00:00Z")
    assert berlin.latest_at_or_before(at("2026-12-04T01:59:59Z")) == at("2026-12-03T02:00:00Z")
    assert berlin.next_after(at("2026-12-04T02:00:00Z")) == at("2026-12-05T02:00:00Z")
    assert berlin.next_after(at("2026-07-01T12:00:00Z")) == at("2026-07-02T01:00:00Z")


def test_missed_firings_collapse_into_the_latest() -> None:
    daily = Schedule("0 3 * * *")
    assert daily.latest_at_or_before(at("2026-12-04T03:30:00Z")) == at("2026-12-04T03:00:00Z")


def test_firing_at_is_only_the_minute_of_a_firing() -> None:
    (rule, _) = scheduled_rules(load_text(HEAD + NIGHTLY).repositories[0])
    assert firing_at(rule, at("2026-12-01T02:00:30Z")) == at("2026-12-01T02:00:00Z")
    assert firing_at(rule, at("2026-12-01T02:01:00Z")) is None


def test_dry_run_of_a_firing_builds_its_ref_with_the_date_in_its_zone() -> None:
    repository = load_text(HEAD + NIGHTLY).repositories[0]
    plans, idle = plans_at(repository, at("2026-12-01T02:00:00Z"), "a" * 40)
    (plan,) = plans
    assert plan.docker_tags == ("nightly", "nightly-20261201")
    assert (plan.source_name, plan.commit, plan.rule_indexes) == ("main", "a" * 40, (0,))
    assert [s.rule.source for s in idle] == ["stable"]
    plans, idle = plans_at(repository, at("2026-12-01T03:00:00Z"), "a" * 40)
    assert [p.docker_tags for p in plans] == [("202612010300",)]


def test_delivery_ids_name_rule_and_firing() -> None:
    (rule, _) = scheduled_rules(load_text(HEAD + NIGHTLY).repositories[0])
    firing = at("2026-12-01T03:00:00+01:00")
    assert delivery_id(rule.key, firing).endswith(":20261201T020000Z")
    assert rule.key.startswith("github:acme/app:0:")


def test_next_firing_json() -> None:
    (rule, _) = scheduled_rules(load_text(HEAD + NIGHTLY).repositories[0])
    shown = rule.to_json(at("2026-12-04T10:00:00Z"))
    assert shown["next_firing"] == "2026-12-05T03:00:00+01:00"
    assert shown["cron"] == "0 3 * * *" and shown["timezone"] == "Europe/Berlin"


def test_a_clock_with_a_start_runs_on_from_it() -> None:
    start = at("2026-12-01T03:00:00Z")
    now = Clock(start).now()
    assert start <= now < at("2026-12-01T03:01:00Z")
    assert abs((Clock().now() - datetime.now(UTC)).total_seconds()) < 60


def run_match(tmp_path: Path, *argv: str) -> int:
    path = tmp_path / "autobuild.yml"
    path.write_text(HEAD + NIGHTLY)
    parser = argparse.ArgumentParser(prog="autobuild")
    match.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["match", "--config", str(path), "--provider", "github", "--repository", "acme/app", *argv]
    )
    code: int = args.func(args)
    return code


def test_match_schedule_now_prints_what_the_firing_builds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_match(tmp_path, "--schedule", "--now", "2026-12-01T03:00:00Z", "--json") == 0
    out, err = capsys.readouterr()
    assert [p["docker_tags"] for p in json.loads(out)] == [["202612010300"]]
    assert "rule #1 (branch 'main'" in err and "2026-12-02T03:00:00+01:00" in err


def test_match_schedule_says_when_nothing_fires(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_match(tmp_path, "--schedule", "--now", "2026-12-01T12:00:00") == 0
    out = capsys.readouterr().out
    assert "No schedule of acme/app fires at 2026-12-01T12:00:00Z" in out


def test_now_fixes_date_for_a_push_dry_run_in_the_rules_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_match(tmp_path, "--ref", "main", "--now", "2026-12-01T23:30:00Z") == 0
    assert "nightly, nightly-20261202" in capsys.readouterr().out  # 00:30 in Berlin
    assert run_match(tmp_path, "--ref", "refs/tags/stable", "--now", "2026-12-01T23:30:00Z") == 0
    assert "202612012330" in capsys.readouterr().out  # UTC


def test_match_needs_ref_or_schedule_and_a_valid_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_match(tmp_path) == 2
    assert "give --ref, --pull-request N or --schedule" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_match(tmp_path, "--schedule", "--now", "tomorrow")
    assert "not an ISO 8601 time" in capsys.readouterr().err
