"""Helpers for the trust tests: a signed build on the real services, and hand-made pushes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.main import main as cli_main
from core.build import BuildRecord
from core.registry_api import RegistryAPI, split_image
from tests.integration.services import (
    ServiceError,
    _free_port,
    push_digest,
    spawn_registry,
    stream_errors,
    unavailable,
)
from tests.integration.worker_helpers import create_record
from worker.context import WorkerContext
from worker.jobs import execute_build


def keygen(tmp_path: Path, name: str = "cosign") -> tuple[Path, Path]:
    prefix = tmp_path / name
    assert cli_main(["keygen", "--output", str(prefix)]) == 0
    return Path(f"{prefix}.key"), Path(f"{prefix}.pub")


def dockerfile(base_image: str) -> str:
    """A Dockerfile FROM ``base_image`` whose image is new every time (no shared digest)."""
    return f"FROM {base_image}\nRUN echo {uuid.uuid4().hex} > /built\n"


def run_build(context: WorkerContext, repository: Any, commit: str, **fields: Any) -> BuildRecord:
    record = create_record(context.store, repository, commit, **fields)
    status = execute_build(context, record.id)
    final = context.store.require(record.id)
    assert status == "success", final.error
    return final


def push_by_hand(docker_api: Any, source: str, image: str, tag: str) -> str:
    """``docker tag SOURCE IMAGE:TAG && docker push IMAGE:TAG``; returns the pushed digest."""
    docker_api.tag(source, image, tag)
    chunks = list(docker_api.push(image, tag=tag, stream=True, decode=True))
    assert not stream_errors(chunks), stream_errors(chunks)
    digest = push_digest(chunks)
    assert digest
    return digest


def registry_api(image: str) -> tuple[RegistryAPI, str]:
    host, name = split_image(image)
    return RegistryAPI(host), name


@contextmanager
def own_registry(root: Path, *, delete: bool) -> Iterator[str]:
    """A registry of the test's own on a free loopback port (deletes allowed or not)."""
    port = _free_port()
    try:
        process, _log_path, log = spawn_registry(root, port, htpasswd=False, delete=delete)
    except ServiceError as err:
        unavailable(str(err))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
