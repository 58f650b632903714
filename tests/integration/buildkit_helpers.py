"""Helpers for BuildKit builds in the integration tests: a minimal ``POST /build?version=2`` and a
base image that only the htpasswd registry has."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import textwrap
import uuid
from collections.abc import Mapping
from typing import Any

import docker

from tests.integration.services import AuthRegistry
from worker.buildkit_session import BuildSession


def context_tar(files: Mapping[str, str]) -> bytes:
    """A build context as BuildKit reads a request body: USTAR (a PAX header reads as text)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def buildkit_build(
    api: docker.APIClient, dockerfile: str, tag: str, session: BuildSession | None
) -> tuple[str | None, str, bytes]:
    """Build with the daemon's BuildKit: (image id or None, error or "", every byte the build
    stream carried, trace records decoded from base64)."""
    params: dict[str, Any] = {"version": "2", "t": tag, "networkmode": "none", "nocache": "1"}
    if session is not None:
        params["session"] = session.id
    response = api._post(
        api._url("/build"),
        params=params,
        data=context_tar({"Dockerfile": textwrap.dedent(dockerfile)}),
        headers={"Content-Type": "application/x-tar"},
        stream=True,
        timeout=300,
    )
    api._raise_for_status(response)
    image_id, error, carried = None, "", b""
    for chunk in api._stream_helper(response, decode=True):
        carried += json.dumps(chunk).encode()
        if chunk.get("id") == "moby.buildkit.trace":
            carried += base64.b64decode(chunk["aux"])
        elif chunk.get("id") == "moby.image.id":
            image_id = chunk["aux"]["ID"]
        if "error" in chunk:
            error = str(chunk["error"])
    return image_id, error, carried


def push_private_base(docker_api: docker.APIClient, base_image: str, registry: AuthRegistry) -> str:
    """The base image pushed to the htpasswd registry only (no local tag of that name left)."""
    repository = f"{registry.host}/autobuild-test/private-{uuid.uuid4().hex[:8]}"
    docker_api.tag(base_image, repository, "latest")
    try:
        for chunk in docker_api.push(
            repository, "latest", stream=True, decode=True, auth_config=registry.auth_config
        ):
            assert "error" not in chunk, chunk
    finally:
        docker_api.remove_image(f"{repository}:latest")
    return f"{repository}:latest"
