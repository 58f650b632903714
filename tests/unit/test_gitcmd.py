"""The git layer (GitPython with our hardening), with real git and no other service: what git and
its helpers see of the environment, the deadline that kills them all, refused remote helpers and
options, hooks that never run, and GitPython's own processes hardened the same way."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import git.cmd
import pytest

from core.gitcmd import (
    ENV_EXECUTABLE,
    Git,
    GitTimeoutError,
    UnsafeGitError,
    check_safe_remote,
    failure_reason,
)
from tests.unit.test_worker_mirror import GIT_ENV, Repo
from worker.commits import read_commit

SSH_URL = "ssh://127.0.0.1/never/reached.git"  # the fake ssh below answers instead


def fake_ssh(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-ssh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_git_and_its_helpers_see_only_the_allowed_environment(tmp_path, monkeypatch):
    dump = tmp_path / "env.txt"
    ssh = fake_ssh(tmp_path, f"env > {dump}\nexit 1\n")
    monkeypatch.setenv("AUTOBUILD_TEST_PROCESS_SECRET", "in-os-environ-hunter2")
    environ = {
        "PATH": os.environ["PATH"],
        "GIT_SSH_COMMAND": ssh,
        "REGISTRY_PASSWORD": "in-settings-hunter2",
    }
    result = Git(environ).run(["ls-remote", "--", SSH_URL], timeout=30)
    assert not result.ok
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "hunter2" not in dump.read_text()
    assert "AUTOBUILD_TEST_PROCESS_SECRET" not in seen and "REGISTRY_PASSWORD" not in seen
    assert seen["PATH"].endswith(os.environ["PATH"])  # git puts its exec path first
    assert seen["GIT_TERMINAL_PROMPT"] == "0"
    assert "ext" not in seen["GIT_ALLOW_PROTOCOL"].split(":")


def test_the_deadline_kills_git_and_every_helper_it_started(tmp_path):
    pidfile = tmp_path / "helper.pid"
    ssh = fake_ssh(tmp_path, f"sleep 300 &\necho $! > {pidfile}\nwait\n")
    git_ = Git({"PATH": os.environ["PATH"], "GIT_SSH_COMMAND": ssh})
    started = time.monotonic()
    with pytest.raises(GitTimeoutError, match="git ls-remote did not finish within 1 seconds"):
        git_.run(["ls-remote", "--", SSH_URL], timeout=1)
    assert time.monotonic() - started < 10
    helper = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while pid_alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(helper)


def test_a_stop_from_the_build_ends_git_at_once(tmp_path):
    ssh = fake_ssh(tmp_path, "sleep 300\n")
    git_ = Git({"PATH": os.environ["PATH"], "GIT_SSH_COMMAND": ssh})
    asked = time.monotonic()
    with pytest.raises(GitTimeoutError):
        git_.run(["ls-remote", "--", SSH_URL], timeout=300, stop=lambda: True)
    assert time.monotonic() - asked < 5


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/x", "fd::3", "foo::bar", "ext://x"])
def test_gitpythons_guard_refuses_remote_helpers(url):
    with pytest.raises(UnsafeGitError, match="remote helper"):
        check_safe_remote(url)


@pytest.mark.parametrize("option", ["--upload-pack=touch /tmp/x", "--exec=x", "-c", "--upl=x"])
def test_gitpythons_guard_refuses_options_that_run_commands(option):
    with pytest.raises(UnsafeGitError, match="option"):
        check_safe_remote("https://example.invalid/x.git", [option])
    check_safe_remote("https://example.invalid/x.git", ["+refs/heads/main:refs/heads/main"])


def test_git_itself_refuses_the_ext_transport_when_asked_directly(tmp_path):
    marker = tmp_path / "pwned"
    result = Git({"PATH": os.environ["PATH"]}).run(
        ["ls-remote", "--", f"ext::sh -c touch% {marker}"], timeout=30
    )
    assert not result.ok and not marker.exists()


def test_hooks_in_the_mirror_never_run(tmp_path):
    origin = Repo(tmp_path / "origin")
    sha = origin.commit({"a": "1\n"})
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True, env=GIT_ENV)
    marker = tmp_path / "hook-ran"
    hook = mirror / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git_ = Git({"PATH": os.environ["PATH"]}, git_dir=mirror)
    fetched = git_.run(["fetch", "-q", "--", origin.url, f"+{sha}:refs/heads/x"], timeout=60)
    assert fetched.ok, fetched.stderr
    assert not marker.exists()
    # the control: plain git does run that hook on the same repository
    subprocess.run(
        ["git", "--git-dir", str(mirror), "update-ref", "refs/heads/y", sha],
        check=True,
        env=GIT_ENV,
    )
    assert marker.exists()


def test_gitpythons_own_processes_are_hardened_like_ours(tmp_path, monkeypatch):
    origin = Repo(tmp_path / "origin")
    sha = origin.commit({"a": "1\n"})
    started: list[list[str]] = []
    real = git.cmd.safer_popen

    def recording(argv, *args, **kwargs):
        started.append(list(argv))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(git.cmd, "safer_popen", recording)
    monkeypatch.setenv("AUTOBUILD_TEST_PROCESS_SECRET", "hunter2")
    assert read_commit(Git({"PATH": os.environ["PATH"]}, git_dir=origin.path / ".git"), sha)
    assert started and all(argv[0] == ENV_EXECUTABLE for argv in started)
    for argv in started:
        assert "AUTOBUILD_TEST_PROCESS_SECRET" in argv  # unset by name, its value never passed
        assert "core.hooksPath=/dev/null" in argv and "protocol.ext.allow=never" in argv
        assert not any("hunter2" in arg for arg in argv)
    assert any("cat-file" in argv for argv in started)


def test_an_ssh_refusal_is_the_reason_rather_than_gits_summary():
    stderr = (
        "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict"
        " checking.\n"
        "Host key verification failed.\n"
        "fatal: Could not read from remote repository.\n"
    )
    assert failure_reason(stderr) == "Host key verification failed."
    denied = (
        "git@host: Permission denied (publickey).\nfatal: Could not read from remote repository."
    )
    assert failure_reason(denied) == "git@host: Permission denied (publickey)."
    assert failure_reason("fatal: repository not found\n") == "repository not found"
