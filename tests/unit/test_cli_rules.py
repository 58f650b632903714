"""`autobuild check-config` and `autobuild match`: exit codes and what they print."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli import check_config, match

CONFIG = r"""
repositories:
  - provider: github
    name: Acme/App
    clone_url: https://github.com/acme/app.git
    image: 127.0.0.1:5000/acme/app
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
        build_args: {REVISION: '{sha}'}
      - source_type: tag
        source: /^v([0-9]+)\.([0-9]+)\.([0-9]+)$/
        docker_tag: ['{\1}.{\2}.{\3}', '{\1}.{\2}', '{\1}', latest]
      - source_type: branch
        source: /^feature\/.+$/
        docker_tag: '{sourceref}'
        paths: {include: ['src/']}
"""
BROKEN = """\
repositories:
  - provider: github
    name: Acme/App
    clone_url: https://github.com/acme/app.git
    image: 127.0.0.1:5000/Acme/App
    colour: blue
    build_rules:
      - source_type: tag
        source: /^v(/
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="autobuild")
    subparsers = parser.add_subparsers(dest="command", required=True)
    check_config.register(subparsers)
    match.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "autobuild.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def broken_file(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yml"
    path.write_text(BROKEN)
    return path


# -- check-config -------------------------------------------------------------------------------


def test_check_config_valid_exits_0_and_says_ok(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["check-config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 1 repository")


def test_check_config_problems_exit_1_with_one_file_line_message_per_line(
    broken_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["check-config", str(broken_file)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{broken_file}:5: image names must be lowercase: write '127.0.0.1:5000/acme/app'",
        lines[1],
        lines[2],
    ]
    assert lines[1].startswith(f"{broken_file}:6: unknown key 'colour' in a repository")
    assert lines[2].startswith(f"{broken_file}:9: source /^v(/ is not a valid regex")


def test_check_config_defaults_to_autobuild_config(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOBUILD_CONFIG", str(config_file))
    assert run(["check-config"]) == 0
    assert str(config_file) in capsys.readouterr().out


def test_check_config_reads_a_directory(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["check-config", str(tmp_path)]) == 0
    assert "OK: 1 repository" in capsys.readouterr().out


def test_check_config_missing_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["check-config", str(tmp_path / "nope.yml")]) == 1
    assert "no such file or directory" in capsys.readouterr().out


# -- match ----------------------------------------------------------------------------------------


def match_args(config_file: Path, *extra: str) -> list[str]:
    return [
        "match",
        "--config",
        str(config_file),
        "--provider",
        "github",
        "--repository",
        "acme/app",
        *extra,
    ]


def test_match_prints_the_build_for_a_tag_push(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(config_file, "--ref", "refs/tags/v1.2.3")) == 0
    out = capsys.readouterr().out
    assert "1 build for tag 'v1.2.3'" in out
    assert "127.0.0.1:5000/acme/app" in out
    assert "tags:       1.2.3, 1.2, 1, latest" in out
    assert "Dockerfile: Dockerfile" in out and "context:    /" in out


def test_match_bare_ref_is_a_branch_and_shows_build_args(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(config_file, "--ref", "master", "--commit", "a" * 40)) == 0
    out = capsys.readouterr().out
    assert "branch 'master' at aaaaaaa" in out and f"build args: REVISION={'a' * 40}" in out


def test_match_json_lists_builds_as_objects(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(match_args(config_file, "--ref", "refs/heads/master", "--commit", "b" * 40, "--json"))
        == 0
    )
    (build,) = json.loads(capsys.readouterr().out)
    assert build["image"] == "127.0.0.1:5000/acme/app"
    assert build["docker_tags"] == ["latest"]
    assert build["dockerfile"] == "Dockerfile" and build["context"] == "/"
    assert build["build_args"] == {"REVISION": "b" * 40}


def test_match_json_without_builds_prints_an_empty_list_and_the_reason(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(config_file, "--ref", "develop", "--json")) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no rule matches branch 'develop'" in captured.err


def test_match_explains_a_skip_marker(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(config_file, "--ref", "master", "--message", "typo [ci skip]")) == 0
    assert "the head commit message contains [ci skip]" in capsys.readouterr().out


def test_match_applies_path_filters_to_changed_files(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(match_args(config_file, "--ref", "feature/login", "--changed", "README.md", "docs/x"))
        == 0
    )
    assert "no changed file matches paths.include" in capsys.readouterr().out
    assert run(match_args(config_file, "--ref", "feature/login", "--changed", "src/a.py")) == 0
    assert "tags:       feature-login" in capsys.readouterr().out


def test_match_unknown_changes_let_path_filters_build(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(config_file, "--ref", "feature/login", "--json")) == 0
    assert json.loads(capsys.readouterr().out)[0]["docker_tags"] == ["feature-login"]


def test_match_unknown_repository_exits_1(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = match_args(config_file, "--ref", "master")
    argv[argv.index("acme/app")] = "acme/other"
    assert run(argv) == 1
    assert "not configured" in capsys.readouterr().err


def test_match_broken_configuration_exits_1_with_the_problems(
    broken_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(broken_file, "--ref", "master")) == 1
    assert f"{broken_file}:5:" in capsys.readouterr().err


def test_match_refuses_other_ref_namespaces(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(match_args(config_file, "--ref", "refs/pull/1/head")) == 2
    assert "neither a branch" in capsys.readouterr().err


def test_console_entry_point_runs_both_commands(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    assert main(["check-config", str(config_file)]) == 0
    assert main(match_args(config_file, "--ref", "master", "--json")) == 0
    assert "OK: 1 repository" in capsys.readouterr().out
