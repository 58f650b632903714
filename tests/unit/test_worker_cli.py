"""``autobuild worker`` refuses to start on a broken configuration."""

from __future__ import annotations

import pytest

from cli.main import build_parser, main


def test_the_worker_command_takes_burst():
    args = build_parser().parse_args(["worker", "--burst"])
    assert args.burst is True
    assert build_parser().parse_args(["worker"]).burst is False


def test_a_broken_configuration_stops_the_worker_with_file_and_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "broken.yml"
    config.write_text("repositories:\n  - provider: github\n    nmae: typo\n")
    monkeypatch.setenv("AUTOBUILD_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--burst"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.strip()
    assert all(line.startswith(f"{config}:") for line in err.strip().splitlines())


def test_drain_takes_worker_names_and_name_alone_is_refused(monkeypatch, capsys):
    args = build_parser().parse_args(["worker", "--drain", "--name", "a", "--name", "b"])
    assert args.drain is True and args.name == ["a", "b"]
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    assert main(["worker", "--name", "a"]) == 2
    assert "--name only goes with --drain" in capsys.readouterr().err
