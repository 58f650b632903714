"""The deploy key: a private file only while git fetches, an ssh command offering only it."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest

from core.deploykey import DeployKey, DeployKeyError, deploy_key, read_deploy_key, ssh_command

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"


def test_the_key_is_a_0600_file_in_a_private_directory_removed_afterwards(tmp_path):
    with deploy_key(DeployKey(KEY), tmp_path / "scratch") as env:
        argv = shlex.split(env["GIT_SSH_COMMAND"])
        key_file = tmp_path / "scratch" / argv[argv.index("-i") + 1]
        assert key_file.read_text() == KEY + "\n"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
        assert key_file.parent.parent == tmp_path / "scratch"
        assert KEY not in env["GIT_SSH_COMMAND"]
    assert not key_file.exists()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_the_key_file_is_removed_when_the_fetch_fails(tmp_path):
    with pytest.raises(RuntimeError), deploy_key(DeployKey(KEY), tmp_path) as env:
        argv = shlex.split(env["GIT_SSH_COMMAND"])
        raise RuntimeError("fetch failed")
    assert not (tmp_path / argv[argv.index("-i") + 1]).exists()


def test_no_key_adds_nothing_and_writes_nothing(tmp_path):
    with deploy_key(None, tmp_path) as env:
        assert env == {}
    assert list(tmp_path.iterdir()) == []


def test_the_ssh_command_offers_only_the_key_and_checks_host_keys_strictly(tmp_path):
    argv = shlex.split(ssh_command(tmp_path / "a dir" / "deploy_key"))
    assert argv[:3] == ["ssh", "-i", str(tmp_path / "a dir" / "deploy_key")]
    options = argv[3:]
    for option in ("BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=yes"):
        assert options[options.index(option) - 1] == "-o"
    assert not any(option.startswith("UserKnownHostsFile") for option in options)
    argv = shlex.split(ssh_command(tmp_path / "key", tmp_path / "known hosts"))
    assert argv[-2:] == ["-o", f"UserKnownHostsFile={tmp_path / 'known hosts'}"]


def test_an_unset_variable_or_one_without_a_key_is_an_error_naming_it_not_its_value():
    assert read_deploy_key({}, None) is None
    with pytest.raises(DeployKeyError, match="ssh_key_env names DEPLOY_KEY, which is not set"):
        read_deploy_key({}, "DEPLOY_KEY")
    with pytest.raises(DeployKeyError) as caught:
        read_deploy_key({"DEPLOY_KEY": "hunter2-not-a-key"}, "DEPLOY_KEY")
    assert "hunter2" not in str(caught.value)
    found = read_deploy_key({"DEPLOY_KEY": KEY}, "DEPLOY_KEY", Path("/etc/hosts-file"))
    assert found == DeployKey(KEY, Path("/etc/hosts-file"))
    assert KEY not in repr(found)
