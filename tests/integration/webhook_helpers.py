"""Helpers for end-to-end tests: an app on the real Redis, signed deliveries, a burst worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests
from flask.testing import FlaskClient

from core.settings import Settings
from tests.webapp import make_app as make_app  # re-exported: the helpers' users import it here

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ZERO = "0" * 40


def make_settings(config_path: Path, redis_url: str, tmp_path: Path, **environ: str) -> Settings:
    env = {
        "AUTOBUILD_CONFIG": str(config_path),
        "REDIS_URL": redis_url,
        "AUTOBUILD_WORKDIR": str(tmp_path / "work"),
        "AUTOBUILD_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        **environ,
    }
    return Settings.from_env(env)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_push(
    repository: str,
    ref: str,
    after: str,
    before: str = ZERO,
    message: str = "a commit",
    changed: tuple[str, ...] = ("Dockerfile",),
) -> dict[str, Any]:
    commit = {
        "id": after,
        "message": message,
        "added": list(changed),
        "removed": [],
        "modified": [],
    }
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": after == ZERO,
        "forced": False,
        "commits": [] if after == ZERO else [commit],
        "head_commit": None if after == ZERO else commit,
        "repository": {"full_name": repository, "name": repository.split("/")[-1]},
    }


def post_github(
    client: FlaskClient,
    secret: str | None,
    payload: dict[str, Any] | bytes,
    event: str = "push",
    delivery: str | None = None,
    content_type: str = "application/json",
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": content_type,
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return client.post("/webhooks/github", data=body, headers=headers)


def run_burst_worker(settings: Settings, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``autobuild worker --burst`` in its own process, as production runs it."""
    env = {**os.environ, **dict(settings.environ)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--burst"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def registry_digest(
    registry: str, image_path: str, tag: str, auth: tuple[str, str] | None = None
) -> str | None:
    accept = ", ".join(
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
    )
    response = requests.head(
        f"http://{registry}/v2/{image_path}/manifests/{tag}",
        headers={"Accept": accept},
        auth=auth,
        timeout=10,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    digest: str = response.headers["Docker-Content-Digest"]
    return digest
