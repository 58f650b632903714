"""`autobuild match --pull-request N --base B --head-ref R [--fork]`: the pull request dry run."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from cli import match

CONFIG = textwrap.dedent(
    """\
    repositories:
      - provider: github
        name: acme/app
        clone_url: https://github.com/acme/app.git
        image: 127.0.0.1:5000/acme/app
        build_rules:
          - source_type: pull_request
            source: main
            docker_tag: ["pr-{pr}", "{head_ref}"]
            push: false
    """
)


def run(tmp_path: Path, *extra: str) -> int:
    config = tmp_path / "autobuild.yml"
    config.write_text(CONFIG)
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    match.register(subparsers)
    argv = ["match", "--config", str(config), "--provider", "github", "--repository", "acme/app"]
    args = parser.parse_args([*argv, *extra])
    code: int = args.func(args)
    return code


def test_a_pull_request_dry_run_shows_the_pr_tags_and_no_push(tmp_path, capsys):
    args = ("--pull-request", "42", "--base", "main", "--head-ref", "feature/x")
    assert run(tmp_path, *args) == 0
    out = capsys.readouterr().out
    assert "1 build for pull_request 'main'" in out
    assert "tags:       pr-42, feature-x" in out
    assert "push:       no (built and tested only)" in out
    assert run(tmp_path, *args, "--json") == 0
    (plan,) = json.loads(capsys.readouterr().out)
    assert plan["source_name"] == "pr/42" and plan["push"] is False


def test_a_fork_dry_run_says_why_it_is_not_built(tmp_path, capsys):
    args = ("--pull-request", "7", "--base", "main", "--head-ref", "x", "--fork")
    assert run(tmp_path, *args) == 0
    assert "comes from a fork" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--pull-request", "1", "--head-ref", "x"), "--base is needed"),
        (("--base", "main"), "go with --pull-request"),
        (("--pull-request", "1", "--base", "main", "--head-ref", "x", "--ref", "main"), "not both"),
        (("--pull-request", "1", "--base", "a..b", "--head-ref", "x"), "not a branch name"),
    ],
)
def test_bad_pull_request_options_exit_2_with_a_sentence(tmp_path, capsys, extra, message):
    assert run(tmp_path, *extra) == 2
    assert message in capsys.readouterr().err
