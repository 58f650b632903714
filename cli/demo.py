"""``autobuild demo-push``: make a commit in the demo repository and send its signed webhook.

The demo repository lives in ``<workdir>/demo`` and is served by ``git daemon`` on
127.0.0.1:9418, the clone URL ``demo/autobuild.yml`` names. Its Dockerfile builds FROM scratch
with busybox copied in, so nothing is pulled from the internet.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from core.settings import Settings

DEMO_REPOSITORY = "autobuild-demo/hello"
DEMO_SECRET_ENV = "AUTOBUILD_DEMO_WEBHOOK_SECRET"
DEMO_SECRET_DEFAULT = "demo-webhook-secret-change-me"
GIT_DAEMON_PORT = 9418
BUSYBOX = Path("/bin/busybox")

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY index.html /www/index.html
RUN echo "built from $(cat /www/index.html | wc -c) bytes of html" > /www/built.txt
CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
"""
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Autobuild Demo",
    "GIT_AUTHOR_EMAIL": "demo@autobuild.invalid",
    "GIT_COMMITTER_NAME": "Autobuild Demo",
    "GIT_COMMITTER_EMAIL": "demo@autobuild.invalid",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo-push", help="commit to the demo repository and send its signed GitHub webhook"
    )
    parser.add_argument(
        "--url", default=None, help="Autobuild's base URL (default http://127.0.0.1:$PORT)"
    )
    parser.add_argument("--tag", default=None, help="also push this git tag (e.g. v1.0)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the build to end")
    parser.set_defaults(func=run)


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ensure_repository(demo_dir: Path) -> tuple[Path, Path]:
    bare, work = demo_dir / "hello.git", demo_dir / "hello-work"
    if not bare.exists():
        demo_dir.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", "--initial-branch=master", str(bare), cwd=demo_dir)
        (bare / "git-daemon-export-ok").touch()
    if not work.exists():
        _git("clone", "--quiet", str(bare), str(work), cwd=demo_dir)
        _git("checkout", "--quiet", "-B", "master", cwd=work)
        shutil.copy(BUSYBOX, work / "busybox")
        (work / "Dockerfile").write_text(DOCKERFILE)
    return bare, work


def ensure_git_daemon(demo_dir: Path) -> None:
    if _port_open(GIT_DAEMON_PORT):
        return
    subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={GIT_DAEMON_PORT}",
            f"--base-path={demo_dir}",
            "--export-all",
            f"--pid-file={demo_dir / 'git-daemon.pid'}",
            str(demo_dir),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not _port_open(GIT_DAEMON_PORT):
        if time.monotonic() > deadline:
            raise RuntimeError(f"git daemon did not start on 127.0.0.1:{GIT_DAEMON_PORT}")
        time.sleep(0.1)


def push_payload(
    ref: str, before: str, after: str, message: str, changed: list[str]
) -> dict[str, Any]:
    commit = {"id": after, "message": message, "added": [], "removed": [], "modified": changed}
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == "0" * 40,
        "deleted": False,
        "forced": False,
        "commits": [commit],
        "head_commit": commit,
        "repository": {"full_name": DEMO_REPOSITORY, "name": "hello", "clone_url": ""},
    }


def send_webhook(url: str, secret: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(  # noqa: S310 - our own URL
        f"{url}/webhooks/github",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read() or b"{}")
        answer.setdefault("error", f"HTTP {error.code}")
    return answer


def wait_for(url: str, build_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/builds/{build_id}", timeout=10) as response:  # noqa: S310
            last = json.loads(response.read())
        if last["status"] in ("success", "failed", "error", "timed_out", "canceled", "superseded"):
            return last
        time.sleep(0.5)
    return last


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    url = (args.url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    secret = settings.secret(DEMO_SECRET_ENV) or DEMO_SECRET_DEFAULT
    demo_dir = settings.workdir / "demo"
    bare, work = ensure_repository(demo_dir)
    ensure_git_daemon(demo_dir)
    before = (
        _git("rev-parse", "--verify", "--quiet", "HEAD", cwd=bare)
        if _has_commits(bare)
        else "0" * 40
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    (work / "index.html").write_text(f"<h1>Hello from Autobuild</h1><p>Committed {stamp}</p>\n")
    _git("add", "--all", cwd=work)
    message = f"Demo commit at {stamp}"
    _git("commit", "--quiet", "-m", message, cwd=work)
    _git("push", "--quiet", "origin", "master", cwd=work)
    after = _git("rev-parse", "HEAD", cwd=work)
    payloads = [push_payload("refs/heads/master", before, after, message, ["index.html"])]
    if args.tag:
        _git("tag", "--force", args.tag, cwd=work)
        _git("push", "--quiet", "--force", "origin", f"refs/tags/{args.tag}", cwd=work)
        payloads.append(
            push_payload(f"refs/tags/{args.tag}", "0" * 40, after, message, ["index.html"])
        )
    print(f"Pushed {after[:7]} to the demo repository; sending the signed webhook to {url}")
    builds: list[dict[str, Any]] = []
    for payload in payloads:
        answer = send_webhook(url, secret, payload)
        if "error" in answer:
            print(f"Autobuild refused the webhook: {answer['error']}", file=sys.stderr)
            return 1
        builds += answer.get("builds", [])
    for build in builds:
        tags = ", ".join(build["docker_tags"])
        print(f"Queued build {build['id']} ({build['image']}: {tags}): {url}/builds/{build['id']}")
    if args.no_wait:
        return 0
    code = 0
    for build in builds:
        final = wait_for(url, build["id"])
        outcome = final.get("digest") or final.get("error") or ""
        print(f"Build {build['id']}: {final.get('status')} {outcome}")
        if final.get("status") == "success":
            print(f"  docker pull {final['image']}@{final['digest']}")
        else:
            code = 1
    return code


def _has_commits(bare: Path) -> bool:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
        cwd=bare,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.returncode == 0
