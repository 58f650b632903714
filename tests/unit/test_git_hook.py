"""``autobuild git-hook`` against a real bare repository and a tiny HTTP server on 127.0.0.1."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.hosts import git as git_host
from cli import git_hook

SECRET = "git-hook-secret-value-0123"
ZERO = "0" * 40
HOOK_SOURCE = Path(git_hook.__file__)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


# --- a git server and an Autobuild stand-in ------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Tester", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@dataclass
class Repo:
    bare: Path
    work: Path

    def commit(self, message: str, files: dict[str, str | None], *, push: bool = True) -> str:
        """Commit in the working clone and, unless told not to, push it to the bare repository."""
        for name, content in files.items():
            path = self.work / name
            if content is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        if push:
            self.push("HEAD:main")
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *refspecs: str) -> None:
        git(self.work, "push", "-q", "--force", "origin", *refspecs)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    bare = tmp_path / "app.git"
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(tmp_path, "init", "-q", str(work))
    git(work, "checkout", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(bare))
    return Repo(bare=bare, work=work)


@dataclass
class Autobuild:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 202
    answer: bytes = b'{"builds": []}'


@pytest.fixture
def autobuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[Autobuild]:
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state: Autobuild

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
            )
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.answer)))
            self.end_headers()
            self.wfile.write(state.answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Autobuild(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def run_hook(
    url: str, lines: list[str], git_dir: Path, environ: dict[str, str] | None = None
) -> tuple[int, str, str]:
    args = argparse.Namespace(url=url, repository="team/app", timeout="5", git_dir=str(git_dir))
    out, err = io.StringIO(), io.StringIO()
    code = git_hook.run(
        args,
        stdin=io.StringIO("".join(f"{line}\n" for line in lines)),
        stdout=out,
        stderr=err,
        environ={"AUTOBUILD_HOOK_SECRET": SECRET} if environ is None else environ,
    )
    return code, out.getvalue(), err.getvalue()


def received(request: dict[str, Any]):
    """What Autobuild's /webhooks/git makes of the request: checks the signature, then parses."""
    git_host.verify(request["headers"], request["body"], SECRET)
    return git_host.parse(request["headers"], request["body"])


# --- the hook ------------------------------------------------------------------------------------


def test_update_is_sent_signed_with_the_tree_diff_and_build_urls_are_printed(repo, autobuild):
    first = repo.commit("first", {"a.txt": "1", "b.txt": "2", "keep.txt": "k"})
    second = repo.commit("second\n\nbody", {"a.txt": "changed", "b.txt": None, "c.txt": "2"})
    autobuild.answer = json.dumps(
        {
            "builds": [
                {
                    "id": "b-1",
                    "source_type": "branch",
                    "source_name": "main",
                    "docker_tags": ["latest"],
                    "status": "queued",
                },
                {"id": "b-2"},
            ]
        }
    ).encode()

    code, out, err = run_hook(autobuild.url, [f"{first} {second} refs/heads/main"], repo.bare)

    assert code == 0
    assert err == ""
    (request,) = autobuild.requests
    assert request["path"] == "/webhooks/git"
    assert request["headers"]["Content-Type"] == "application/json"
    delivery = received(request)
    (event,) = delivery.events
    assert (event.ref_name, event.commit, event.before) == ("main", second, first)
    assert event.changed_files is not None
    assert sorted(event.changed_files) == ["a.txt", "b.txt", "c.txt"]
    assert event.head_message == "second\n\nbody"
    assert event.repository == "team/app"
    assert delivery.delivery_id  # a fresh uuid per run
    assert f"{autobuild.url}/builds/b-1" in out
    assert "branch main -> latest (queued)" in out
    assert f"{autobuild.url}/builds/b-2" in out


def test_new_branch_has_unknown_files_and_an_annotated_tag_sends_its_commit(repo, autobuild):
    commit = repo.commit("only", {"a.txt": "1"})
    git(repo.work, "tag", "-a", "v1.0", "-m", "release")
    tag_object = git(repo.work, "rev-parse", "v1.0")
    repo.push("v1.0")
    assert tag_object != commit

    lines = [f"{ZERO} {commit} refs/heads/feature/x", f"{ZERO} {tag_object} refs/tags/v1.0"]
    code, _, err = run_hook(autobuild.url, lines, repo.bare)

    assert (code, err) == (0, "")
    branch, tag = received(autobuild.requests[0]).events
    assert (branch.ref_name, branch.before, branch.changed_files) == ("feature/x", None, None)
    assert (tag.ref_name, tag.commit, tag.changed_files) == ("v1.0", commit, None)
    document = json.loads(autobuild.requests[0]["body"])
    assert document["pushes"][1]["after"] == tag_object


def test_forced_push_reports_exactly_what_differs_between_the_trees(repo, autobuild):
    base = repo.commit("base", {"a.txt": "1", "b.txt": "1"})
    ahead = repo.commit("ahead", {"a.txt": "2", "lost.txt": "x"})
    git(repo.work, "reset", "-q", "--hard", base)
    rewritten = repo.commit("rewritten", {"b.txt": "2"})

    run_hook(autobuild.url, [f"{ahead} {rewritten} refs/heads/main"], repo.bare)

    (event,) = received(autobuild.requests[0]).events
    assert sorted(event.changed_files or ()) == ["a.txt", "b.txt", "lost.txt"]


def test_deletions_and_other_refs_send_nothing(repo, autobuild):
    commit = repo.commit("c", {"a.txt": "1"})
    lines = [f"{commit} {ZERO} refs/heads/gone", f"{ZERO} {commit} refs/notes/commits"]
    code, out, err = run_hook(autobuild.url, lines, repo.bare)
    assert (code, err) == (0, "")
    assert autobuild.requests == []
    assert "nothing to build" in out


def test_hostile_or_broken_lines_are_skipped_with_a_warning(repo, autobuild):
    commit = repo.commit("c", {"a.txt": "1"})
    lines = [
        f"{ZERO} {commit} refs/heads/--upload-pack=x",
        f"{ZERO} {commit} refs/heads/a..b",
        f"{ZERO} --output=x refs/heads/main",
        "just garbage",
        f"{ZERO} {commit} refs/heads/ok",
    ]
    code, _, err = run_hook(autobuild.url, lines, repo.bare)
    assert code == 0
    assert "skipped" in err
    (event,) = received(autobuild.requests[0]).events
    assert event.ref_name == "ok"


def test_unknown_commit_is_skipped(repo, autobuild):
    repo.commit("c", {"a.txt": "1"})
    code, _, err = run_hook(autobuild.url, [f"{ZERO} {'e' * 40} refs/heads/x"], repo.bare)
    assert code == 0
    assert "not a commit" in err
    assert autobuild.requests == []


def test_unreachable_service_is_a_warning_and_the_hook_still_succeeds(repo):
    commit = repo.commit("c", {"a.txt": "1"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    code, out, err = run_hook(
        f"http://127.0.0.1:{closed_port}", [f"{ZERO} {commit} refs/heads/main"], repo.bare
    )
    assert code == 0
    assert out == ""
    assert "could not reach Autobuild" in err
    assert "warning" in err


def test_refusal_is_a_warning_with_the_services_reason(repo, autobuild):
    commit = repo.commit("c", {"a.txt": "1"})
    autobuild.status = 401
    autobuild.answer = b'{"error": "The X-Autobuild-Signature signature does not match."}'
    code, _, err = run_hook(autobuild.url, [f"{ZERO} {commit} refs/heads/main"], repo.bare)
    assert code == 0
    assert "401" in err
    assert "signature does not match" in err


def test_ignored_answer_prints_the_reason(repo, autobuild):
    commit = repo.commit("c", {"a.txt": "1"})
    autobuild.status = 200
    autobuild.answer = b'{"ignored": "no build rule matches this push"}'
    code, out, err = run_hook(autobuild.url, [f"{ZERO} {commit} refs/heads/main"], repo.bare)
    assert (code, err) == (0, "")
    assert "no build rule matches this push" in out


def test_answer_that_is_not_json_is_a_warning(repo, autobuild):
    commit = repo.commit("c", {"a.txt": "1"})
    autobuild.answer = b"<html>proxy error</html>"
    code, _, err = run_hook(autobuild.url, [f"{ZERO} {commit} refs/heads/main"], repo.bare)
    assert code == 0
    assert "not JSON" in err


@pytest.mark.parametrize(
    ("url", "environ", "complaint"),
    [
        ("http://127.0.0.1:9", {}, "AUTOBUILD_HOOK_SECRET"),
        ("", {"AUTOBUILD_HOOK_SECRET": SECRET}, "--url"),
        ("ftp://example.com", {"AUTOBUILD_HOOK_SECRET": SECRET}, "http"),
        ("file:///etc/passwd", {"AUTOBUILD_HOOK_SECRET": SECRET}, "http"),
    ],
)
def test_missing_secret_or_bad_url_is_a_warning_and_nothing_is_sent(repo, url, environ, complaint):
    commit = repo.commit("c", {"a.txt": "1"})
    code, _, err = run_hook(url, [f"{ZERO} {commit} refs/heads/main"], repo.bare, environ)
    assert code == 0
    assert complaint in err


def test_printed_text_from_the_service_cannot_drive_the_terminal(repo, autobuild):
    commit = repo.commit("c", {"a.txt": "1"})
    autobuild.status = 200
    autobuild.answer = json.dumps({"ignored": "evil \x1b[2J\x1b]0;title\x07 text"}).encode()
    _, out, _ = run_hook(autobuild.url, [f"{ZERO} {commit} refs/heads/main"], repo.bare)
    assert "\x1b" not in out
    assert "\x07" not in out


def test_subcommand_is_registered_with_its_options():
    parser = argparse.ArgumentParser()
    git_hook.register(parser.add_subparsers())
    args = parser.parse_args(["git-hook", "--url", "http://h", "--repository", "team/app"])
    assert args.func is git_hook.run
    assert (args.url, args.repository, args.git_dir) == ("http://h", "team/app", None)


# --- installed as hooks/post-receive, the file copied alone, run without site-packages ----------


def test_real_push_through_an_installed_post_receive_hook(repo, autobuild, tmp_path):
    standalone = tmp_path / "autobuild-git-hook.py"
    shutil.copy(HOOK_SOURCE, standalone)
    hook = repo.bare / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -I -S "{standalone}" '
        f'--url "{autobuild.url}" --repository team/app\n'
    )
    hook.chmod(0o755)
    autobuild.answer = b'{"builds": [{"id": "b-9"}]}'
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("GIT_")
    }
    env["AUTOBUILD_HOOK_SECRET"] = SECRET

    (repo.work / "Dockerfile").write_text("FROM scratch\n")
    git(repo.work, "add", "Dockerfile")
    git(repo.work, "commit", "-q", "-m", "add Dockerfile")
    pushed = subprocess.run(
        ["git", "push", "origin", "main"],
        cwd=repo.work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert pushed.returncode == 0, pushed.stderr
    assert f"remote: autobuild: build: {autobuild.url}/builds/b-9" in pushed.stderr
    (event,) = received(autobuild.requests[0]).events
    assert (event.ref_name, event.before, event.head_message) == ("main", None, "add Dockerfile")


def test_installed_hook_never_fails_the_push_when_autobuild_is_down(repo, tmp_path):
    hook = repo.bare / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -I -S "{HOOK_SOURCE}" '
        "--url http://127.0.0.1:9 --repository team/app --timeout 2\n"
    )
    hook.chmod(0o755)
    repo.commit("c", {"a.txt": "1"}, push=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["AUTOBUILD_HOOK_SECRET"] = SECRET
    pushed = subprocess.run(
        ["git", "push", "origin", "main"], cwd=repo.work, env=env, capture_output=True, text=True
    )
    assert pushed.returncode == 0
    assert "autobuild: warning: could not reach Autobuild" in pushed.stderr
    assert git(repo.bare, "rev-parse", "main") == git(repo.work, "rev-parse", "HEAD")
