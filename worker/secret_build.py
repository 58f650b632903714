"""A build with secrets: the daemon's BuildKit (``POST /build?version=2``) with a session.

Only BuildKit can mount a secret into a ``RUN`` step, and it reads the value from the client's
session (:mod:`worker.buildkit_session`), never from the build request. The session also answers
registry credentials, so a ``FROM`` image on a configured private registry pulls. The context goes
as a GNU tar (BuildKit reads a PAX-headed body as a Dockerfile); labels and every tag are build
parameters; the log is the build trace as ``--progress=plain`` lines (:mod:`worker.trace_lines`).

This is the minimal BuildKit call the secrets need until the general BuildKit builder (issue 12,
items 1-2) takes over: that builder opens the same session with :func:`secret_session` and names
it in its own request.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker.errors
import requests
import urllib3.exceptions
from docker.utils.build import exclude_paths

from buildrules.model import Repository
from core.masking import MIN_SECRET_LENGTH
from core.settings import Settings
from worker.buildkit_session import BuildSession, SessionError
from worker.buildkit_session.services import MAX_SECRET_BYTES
from worker.containment import check_context_size, explain_limits
from worker.deadline import Checkpoint, Deadline
from worker.docker_build import BuildRequest, BuildResult, LineFn
from worker.errors import DaemonError, DockerBuildError, UserBuildError, api_error_text
from worker.trace_lines import TraceLines

TRACE_ID = "moby.buildkit.trace"
IMAGE_ID = "moby.image.id"


def secret_values(
    repository: Repository, rule_indexes: tuple[int, ...], settings: Settings
) -> dict[str, bytes]:
    """The build secrets of the rules that asked for this build (the repository's when no rule
    is known), read from the worker's environment; an unset variable fails the build by name."""
    rules = [repository.build_rules[i] for i in rule_indexes if i < len(repository.build_rules)]
    declared: dict[str, str] = dict(repository.secrets)
    for rule in rules:
        declared.update(rule.secrets)
    values: dict[str, bytes] = {}
    for secret_id, env_name in declared.items():
        value = settings.secret(env_name)
        if value is None:
            raise UserBuildError(
                f"Build secret {secret_id} needs the environment variable {env_name} on the worker,"
                " and it is not set"
            )
        values[secret_id] = value.encode()
        if len(value) < MIN_SECRET_LENGTH:  # the masker leaves shorter values alone
            raise UserBuildError(
                f"Build secret {secret_id} ({env_name}) is shorter than {MIN_SECRET_LENGTH}"
                " characters, too short to be masked in the log"
            )
        if len(values[secret_id]) > MAX_SECRET_BYTES:
            raise UserBuildError(
                f"Build secret {secret_id} is larger than BuildKit's {MAX_SECRET_BYTES} bytes"
            )
    return values


def session_credentials(found: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[str, str]]:
    """``registry_credentials`` (host -> auth_config) as the session's host -> (user, password)."""
    return {host: (auth["username"], auth["password"]) for host, auth in found.items()}


@contextlib.contextmanager
def secret_session(api: Any, request: BuildRequest, lifetime: float) -> Iterator[BuildSession]:
    """The session a BuildKit build of ``request`` names: its secrets and registry credentials."""
    try:
        with BuildSession.open(
            api, secrets=request.secrets, registry_auth=request.registry_auth, lifetime=lifetime
        ) as session:
            yield session
    except SessionError as exc:
        raise DaemonError(f"Could not open a BuildKit session for the build: {exc}") from exc


def context_tar(context_dir: Path, dockerfile: str) -> bytes:
    """The context as a GNU tar, honouring ``.dockerignore`` as ``docker build`` does."""
    root = str(context_dir)
    ignore = context_dir / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith("#")
        ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(exclude_paths(root, patterns, dockerfile=dockerfile)):
            info = tar.gettarinfo(os.path.join(root, name), arcname=name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(os.path.join(root, name), "rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def build_params(request: BuildRequest, session_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "version": "2",
        "session": session_id,
        "dockerfile": request.dockerfile,
        "t": [f"{request.image}:{tag}" for tag in request.tags],
        "rm": "1",
        "forcerm": "1",
        "nocache": "1" if request.nocache else "0",
        "buildargs": json.dumps(dict(request.build_args)),
        "labels": json.dumps(dict(request.labels)),
    }
    if request.cache_from:
        params["cachefrom"] = json.dumps(list(request.cache_from))
    kwargs = request.limits.build_kwargs()
    if kwargs.get("network_mode"):
        params["networkmode"] = kwargs["network_mode"]
    for key, value in kwargs.get("container_limits", {}).items():
        params[key] = value
    return params


def consume_trace(chunks: Any, on_line: LineFn, checkpoint: Checkpoint) -> BuildResult:
    """Log the trace of a BuildKit build stream; the image id, or raise with BuildKit's error."""
    trace = TraceLines()
    image_id: str | None = None
    count = 0
    for chunk in chunks:
        checkpoint()
        if not isinstance(chunk, Mapping):
            continue
        lines: list[str] = []
        if chunk.get("id") == TRACE_ID and isinstance(chunk.get("aux"), str):
            lines = trace.feed(base64.b64decode(chunk["aux"]))
        elif chunk.get("id") == IMAGE_ID and isinstance(chunk.get("aux"), Mapping):
            image_id = str(chunk["aux"].get("ID") or "") or image_id
        elif isinstance(chunk.get("stream"), str):
            lines = [line for line in chunk["stream"].splitlines() if line.strip()]
        for line in lines:
            on_line(line)
            count += 1
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = str(chunk.get("error") or detail.get("message") or "unknown error")
            output = "; ".join(trace.last_output[-3:])
            raise DockerBuildError(
                f"The BuildKit build failed: {message}"
                + (f" (last output: {output})" if output else "")
            )
    checkpoint()
    if image_id is None:
        raise DaemonError("The BuildKit build stream ended without an image id or an error")
    return BuildResult(image_id=image_id, last_step=None, lines=count)


def build_with_secrets(
    api: Any,
    request: BuildRequest,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
) -> BuildResult:
    """Build ``request`` with BuildKit and a session holding its secrets and registry
    credentials; the session closes when the build stream ends."""
    check = checkpoint or deadline.checkpoint("building the image")
    check_context_size(request.context_dir, request.dockerfile, request.limits.max_context_bytes)
    body = context_tar(request.context_dir, request.dockerfile)
    try:
        with secret_session(api, request, deadline.backstop()) as session:
            response = api._post(
                api._url("/build"),
                params=build_params(request, session.id),
                data=body,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=deadline.backstop(),
            )
            api._raise_for_status(response)
            with explain_limits(request.limits):
                return consume_trace(api._stream_helper(response, decode=True), on_line, check)
    except docker.errors.APIError as exc:
        if exc.is_client_error():
            raise DockerBuildError(f"Docker refused the build: {api_error_text(exc)}") from exc
        raise DaemonError(f"The Docker daemon failed the build: {api_error_text(exc)}") from exc
    except (
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
    ) as exc:
        if deadline.expired:
            raise deadline.error("building the image") from exc
        raise DaemonError(
            f"Lost the connection to the Docker daemon during the build: {exc}"
        ) from exc
