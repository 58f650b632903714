"""The git hook end to end: a real ``git push`` to a bare repository whose ``post-receive`` hook is
installed as the README shows, a real Autobuild web server on 127.0.0.1, a burst worker, the
registry.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from core.settings import Settings
from tests.integration.host_payloads import built_revision
from tests.integration.services import GIT_ENV, GitRepo
from tests.integration.webhook_helpers import (
    PROJECT_ROOT,
    make_app,
    make_settings,
    registry_digest,
    run_burst_worker,
)

SECRET = "git-hook-e2e-secret-value-0123"
QUEUED_LINE = re.compile(
    r"^remote: autobuild: build (?P<type>branch|tag) (?P<name>\S+) -> (?P<tags>.+) "
    r"\(queued\): (?P<url>http://127\.0\.0\.1:\d+/builds/(?P<id>[0-9A-Za-z_-]+))\s*$",
    re.MULTILINE,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def write_config(tmp_path: Path, repository: str, clone_url: str, image: str) -> Path:
    config = tmp_path / "autobuild.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            repositories:
              - provider: git
                name: {repository}
                clone_url: {clone_url}
                image: {image}
                webhook_secret_env: APP_HOOK_SECRET
                build_rules:
                  - source_type: branch
                    source: main
                    docker_tag: latest
                    paths:
                      ignore: ['docs/**']
                  - source_type: tag
                    source: /^v([0-9.]+)$/
                    docker_tag: '{{\\1}}'
            """
        )
    )
    return config


# --- the git server ------------------------------------------------------------------------------


def hook_command() -> str:
    """``autobuild git-hook`` from the project's virtualenv (the README's first form)."""
    console_script = Path(sys.executable).parent / "autobuild"
    if console_script.exists():
        return f"exec {console_script} git-hook"
    return (
        f"PYTHONPATH={PROJECT_ROOT}\nexport PYTHONPATH\nexec {sys.executable} -m cli.main git-hook"
    )


def standalone_hook_command(tmp_path: Path) -> str:
    """The README's second form: ``cli/git_hook.py`` copied to the git server, run by python3."""
    python3 = shutil.which("python3")
    if python3 is None:
        pytest.skip("python3 is not installed")
    copy = tmp_path / "lib" / "autobuild-git-hook.py"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "cli" / "git_hook.py", copy)
    return f"exec {python3} {copy}"


@dataclass(frozen=True)
class GitServer:
    """A bare repository served from the file system, and a clone of it to push from."""

    bare: Path
    clone: GitRepo

    def push(self, *refspecs: str) -> subprocess.CompletedProcess[str]:
        """``git push origin <refspecs>`` as the pusher runs it (without the hook's secret)."""
        env = {**os.environ, **GIT_ENV}
        for name in ("AUTOBUILD_HOOK_SECRET", "AUTOBUILD_URL", "AUTOBUILD_REPOSITORY"):
            env.pop(name, None)
        return subprocess.run(
            ["git", "push", "origin", *refspecs],
            cwd=self.clone.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def rev(self, ref: str) -> str:
        result = subprocess.run(
            ["git", "--git-dir", str(self.bare), "rev-parse", ref],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()


def git_server(
    tmp_path: Path, clone: GitRepo, command: str, url: str, repository: str
) -> GitServer:
    """Serve ``clone``'s history from a bare repository with the post-receive hook installed:
    ``<command> --url <url> --repository <repository>``, the secret read from a file."""
    bare = tmp_path / "srv" / "git" / "app.git"
    bare.parent.mkdir(parents=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(clone.path), str(bare)],
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
    )
    secret_file = tmp_path / "etc" / "app.secret"
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    hook = bare / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f'AUTOBUILD_HOOK_SECRET="$(cat {secret_file})"\n'
        "export AUTOBUILD_HOOK_SECRET\n"
        f"{command} \\\n    --url {url} --repository {repository}\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    clone.git("remote", "add", "origin", str(bare))
    return GitServer(bare=bare, clone=clone)


# --- Autobuild -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Autobuild:
    url: str
    repository: str
    settings: Settings
    image_path: str


@pytest.fixture
def image_path() -> str:
    return f"autobuild-test/git-hook-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def work_repo(make_git_repo, base_image) -> GitRepo:
    """The pusher's repository: one commit on main, with a Dockerfile."""
    repo: GitRepo = make_git_repo(
        {"Dockerfile": f"FROM {base_image}\nRUN echo first > /built.txt\n"}, branch="main"
    )
    return repo


@pytest.fixture
def autobuild(tmp_path, redis_url, registry_url, image_path) -> Iterator[Autobuild]:
    """The web process on 127.0.0.1 (an ephemeral port), in a thread of this test process.

    The configured clone URL is the bare repository that :func:`git_server` creates.
    """
    bare_url = (tmp_path / "srv" / "git" / "app.git").resolve().as_uri()
    repository = f"team/app-{uuid.uuid4().hex[:8]}"
    config = write_config(tmp_path, repository, bare_url, f"{registry_url}/{image_path}")
    settings = make_settings(config, redis_url, tmp_path, APP_HOOK_SECRET=SECRET)
    server = make_server("127.0.0.1", 0, make_app(settings), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.01},
        name="autobuild-web",
        daemon=True,
    )
    thread.start()
    try:
        yield Autobuild(f"http://127.0.0.1:{server.server_port}", repository, settings, image_path)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound by this test, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def queued_builds(output: str) -> dict[str, re.Match[str]]:
    return {match["name"]: match for match in QUEUED_LINE.finditer(output)}


# --- the tests -----------------------------------------------------------------------------------


def test_push_to_a_bare_repository_queues_builds_that_reach_the_registry(
    tmp_path, work_repo, autobuild, registry_url, base_image
):
    server = git_server(tmp_path, work_repo, hook_command(), autobuild.url, autobuild.repository)
    tagged = work_repo.head()
    work_repo.git("tag", "-a", "v1.0", "-m", "release 1.0")
    on_main = work_repo.commit(
        {"Dockerfile": f"FROM {base_image}\nRUN echo second > /built.txt\n"}, "second commit"
    )

    pushed = server.push("main", "v1.0")

    assert pushed.returncode == 0, pushed.stderr
    assert "autobuild: warning" not in pushed.stderr
    assert server.rev("refs/heads/main") == on_main
    queued = queued_builds(pushed.stderr)
    assert set(queued) == {"main", "v1.0"}, pushed.stderr
    assert queued["main"]["tags"] == "latest"
    assert queued["v1.0"]["tags"] == "1.0"
    for match in queued.values():
        assert match["url"].startswith(autobuild.url + "/builds/")
        page = requests.get(match["url"], timeout=10)
        assert page.status_code == 200
        assert match["id"] in page.text

    worker = run_burst_worker(autobuild.settings)
    assert worker.returncode == 0, worker.stderr[-2000:]

    expected = {"main": (on_main, "latest"), "v1.0": (tagged, "1.0")}
    for name, (commit, tag) in expected.items():
        answer = requests.get(f"{autobuild.url}/api/v1/builds/{queued[name]['id']}", timeout=10)
        build = answer.json()
        assert build["status"] == "success", build
        assert build["provider"] == "git"
        assert build["repository"] == autobuild.repository
        assert build["trigger"] == "webhook"
        assert build["commit"] == commit
        assert registry_digest(registry_url, autobuild.image_path, tag) == build["digest"]
        assert built_revision(registry_url, autobuild.image_path, build["digest"]) == commit


def test_hook_sends_the_changed_files_so_a_docs_only_push_builds_nothing(
    tmp_path, work_repo, autobuild
):
    server = git_server(tmp_path, work_repo, hook_command(), autobuild.url, autobuild.repository)
    docs_only = work_repo.commit({"docs/readme.md": "# How to\n"}, "document the app")

    pushed = server.push("main")

    assert pushed.returncode == 0, pushed.stderr
    assert server.rev("refs/heads/main") == docs_only
    assert "remote: autobuild: nothing new queued:" in pushed.stderr
    assert "ignored paths" in pushed.stderr
    assert not queued_builds(pushed.stderr)
    listed = requests.get(
        f"{autobuild.url}/api/v1/builds",
        params={"provider": "git", "repository": autobuild.repository},
        timeout=10,
    ).json()["builds"]
    assert listed == []


def test_push_succeeds_with_a_warning_when_autobuild_is_unreachable(
    tmp_path, work_repo, base_image, refused_port
):
    url = f"http://127.0.0.1:{refused_port}"
    server = git_server(tmp_path, work_repo, standalone_hook_command(tmp_path), url, "team/app")
    on_main = work_repo.commit(
        {"Dockerfile": f"FROM {base_image}\nRUN echo offline > /built.txt\n"}, "while offline"
    )

    pushed = server.push("main")

    assert pushed.returncode == 0, pushed.stderr
    assert server.rev("refs/heads/main") == on_main
    assert f"remote: autobuild: warning: could not reach Autobuild at {url}/webhooks/git" in (
        pushed.stderr
    )
    assert "no build was queued" in pushed.stderr
    assert not queued_builds(pushed.stderr)
