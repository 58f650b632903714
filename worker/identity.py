"""This worker's identity: the host name and the ID of the Docker daemon it builds on
(``docker info``), learned once when the worker starts."""

from __future__ import annotations

import logging
import socket

import docker
import requests

from core.workerid import WorkerIdentity
from worker.docker_client import DockerFactory
from worker.errors import DaemonError

INFO_TIMEOUT_SECONDS = 10.0

logger = logging.getLogger(__name__)


def worker_identity(factory: DockerFactory) -> WorkerIdentity:
    """The host name, and the daemon's ID (None, with a warning, when the daemon does not
    answer: the worker still starts, and its builds say why they cannot build)."""
    host = socket.gethostname()
    try:
        api = factory(INFO_TIMEOUT_SECONDS, {})
        try:
            daemon = str(api.info().get("ID") or "") or None
        finally:
            api.close()
    except (DaemonError, docker.errors.DockerException, requests.RequestException) as error:
        logger.warning("the Docker daemon did not say its ID: %s", error)
        daemon = None
    return WorkerIdentity(host=host, daemon=daemon)
