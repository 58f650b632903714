"""Helpers for the web UI tests: a real server in a thread, Debian's chromium through Playwright,
screenshots, and build records written straight into the store.

The browser is Debian's ``/usr/bin/chromium`` (``apt-get install chromium``), driven headless by
Playwright for Python; Playwright's own browser download is not used. Without chromium or
Playwright the browser tests skip with the reason (fail where ``CI`` is set).
"""

from __future__ import annotations

import os
import shutil
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from core.build import BuildRecord, BuildStatus
from core.events import RefType
from core.logs import BuildLog
from core.masking import Masker
from core.progress import PhaseStatus
from core.store import BuildStore
from tests.integration.services import unavailable
from worker.phases.base import PhaseRecorder
from worker.progress import RecordProgress
from worker.streams import parse_step

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
README_SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = "octo/ui-demo"
SECRET = "ui-webhook-secret-value"
ADMIN_TOKEN = "ui-admin-token-0123456789"


# --- the server -----------------------------------------------------------------------------


@dataclass
class LiveServer:
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread
    git_repo: Any = None  # the repository a test's fixture built for this server, if any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@contextmanager
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served by werkzeug on 127.0.0.1 (a free port), threaded, until the block ends."""
    app.testing = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.01},
        name="ui-live-server",
        daemon=True,
    )
    thread.start()
    try:
        yield LiveServer(app, server, thread)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- the browser ----------------------------------------------------------------------------


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Debian chromium under Playwright (skip, or fail under CI, when missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: pip install -e '.[test]'")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, width: int = 1280, height: int = 860) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors  # the tests assert that no script failed
    return page


def wait_until(page: Any, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates
    its predicate with eval, which the UI's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {expression}")
        page.wait_for_timeout(50)


def screenshot(page: Any, name: str, *, readme: bool = False, full_page: bool = True) -> Path:
    """Save ``test-output/screenshots/<name>.png``; with ``readme`` and
    AUTOBUILD_UPDATE_SCREENSHOTS=1 (``make screenshots``), also refresh docs/screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if readme and os.environ.get("AUTOBUILD_UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SCREENSHOTS / path.name)
    return path


# --- configuration and records --------------------------------------------------------------


def write_ui_config(tmp_path: Path, clone_url: str = "file:///nonexistent/ui-demo.git",
                    image: str = "127.0.0.1:5000/octo/ui-demo") -> Path:  # fmt: skip
    config = tmp_path / "autobuild.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            repositories:
              - provider: github
                name: {REPO}
                clone_url: {clone_url}
                image: {image}
                webhook_secret_env: UI_WEBHOOK_SECRET
                trigger_token_env: UI_TRIGGER_TOKEN
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: [latest, edge]
                  - source_type: tag
                    source: /^v([0-9.]+)$/
                    docker_tag: '{{\\1}}'
              - provider: gitlab
                name: group/other
                clone_url: file:///nonexistent/other.git
                image: 127.0.0.1:5000/group/other
                webhook_secret_env: OTHER_SECRET
                build_rules:
                  - source_type: branch
                    source: main
                    docker_tag: latest
            """
        )
    )
    return config


def make_record(**changes: Any) -> BuildRecord:
    fields: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "provider": "github",
        "repository": REPO,
        "source_type": RefType.BRANCH,
        "source_name": "master",
        "commit": uuid.uuid4().hex + uuid.uuid4().hex[:8],
        "image": "127.0.0.1:5000/octo/ui-demo",
        "docker_tags": ("latest", "edge"),
        "dockerfile": "Dockerfile",
        "context": "/",
        "rule_indexes": (0,),
    }
    fields.update(changes)
    return BuildRecord(**fields)


def add_record(store: BuildStore, **changes: Any) -> BuildRecord:
    record = make_record(**changes)
    store.create([record])
    return record


def build_log(store: BuildStore, build_id: str, secrets: tuple[str, ...] = ()) -> BuildLog:
    return BuildLog(store.redis, build_id, Masker(secrets))


FAKE_DIGEST = "sha256:" + "ab12" * 16
BUILD_STEPS = (
    "Step 1/3 : FROM 127.0.0.1:5000/autobuild-test/busybox:latest",
    " ---> 5f1ef3a2b9c0",
    "Step 2/3 : RUN echo compiling && sleep 1",
    " ---> Running in 2a3b4c5d6e7f",
    "compiling",
    " ---> 8e9f0a1b2c3d",
    'Step 3/3 : CMD ["/bin/sh"]',
    " ---> 9a8b7c6d5e4f",
    "Successfully built 9a8b7c6d5e4f",
)


def run_fake_build(
    store: BuildStore, record: BuildRecord, pause: Any = None, fail_at_step: int | None = None
) -> BuildRecord:
    """Walk a build through clone, build and push writing the log the way worker.jobs does
    (phase markers, lines tagged with their phase) and recording its phases and progress the
    way the worker's phases do (the step before its line, a tag once confirmed); ``pause()`` is
    called between lines (a test waits there); optionally fail at a step."""
    log = build_log(store, record.id)
    phases = PhaseRecorder(store, record.id, record.attempt)
    progress = RecordProgress(store, record.id, record.attempt)
    wait = pause or (lambda: None)
    store.transition(record.id, BuildStatus.CLONING)
    phases.start("clone")
    log.phase("clone", f"Fetching commit {record.commit[:12]} (branch {record.source_name})")
    log.append(f"Commit {record.commit[:12]} fetched", phase="clone")
    wait()
    phases.end(PhaseStatus.SUCCESS)
    store.transition(record.id, BuildStatus.BUILDING)
    phases.start("build")
    log.phase("build", f"Building {record.image}:{record.docker_tags[0]} from {record.dockerfile}")
    for line in BUILD_STEPS:
        step = parse_step(line)
        if fail_at_step is not None and step is not None and step.number == fail_at_step + 1:
            error = "The command '/bin/sh -c echo compiling && exit 3' returned a non-zero code: 3"
            log.append(f"Build failed: {error}")
            phases.close(PhaseStatus.FAILED, ["push", "verify"])
            return store.transition(record.id, BuildStatus.FAILED, error=error)
        if step is not None:
            progress.step(step.number, step.total)
        log.append(line, phase="build")
        wait()
    phases.end(PhaseStatus.SUCCESS)
    store.transition(record.id, BuildStatus.PUSHING)
    phases.start("push")
    log.phase("push", f"Pushing {record.image} ({', '.join(record.docker_tags)})")
    for tag in record.docker_tags:
        log.append(f"The push refers to repository [{record.image}]", phase="push")
        log.append("3f1e2d3c4b5a: Pushed", phase="push")
        log.append(f"{tag}: digest: {FAKE_DIGEST} size: 527", phase="push")
        progress.pushed(tag, FAKE_DIGEST)
        log.append(f"Pushed {record.image}:{tag} as {FAKE_DIGEST}", phase="push")
        wait()
    phases.end(PhaseStatus.SUCCESS)
    phases.start("verify")
    phases.end(PhaseStatus.SUCCESS)
    log.append(
        f"Build succeeded: {record.image} ({', '.join(record.docker_tags)}) is {FAKE_DIGEST}"
    )
    return store.transition(
        record.id, BuildStatus.SUCCESS, digest=FAKE_DIGEST, image_id="sha256:9a8b"
    )
