"""Fixtures for the integration tests: the real services, a test base image, git repositories.

A service that does not answer makes the tests that need it skip with a reason, except when the
``CI`` environment variable is set: there it is a failure (``.ci/run`` sets it).

Fixtures (session-scoped unless noted):
  redis_url        "redis://127.0.0.1:6379/<db>", a test database of its own, flushed at start
  redis_conn       redis.Redis on that database
  clean_redis      (function) redis_conn, flushed before the test
  docker_client    docker.DockerClient from the environment (DOCKER_HOST or the local socket)
  docker_api       the low-level docker.APIClient of that client
  registry_url     "127.0.0.1:5000", the registry from make services (no auth)
  auth_registry    AuthRegistry(host, username, password): a second registry, started here,
                   with htpasswd (bcrypt) auth, stopped at the end of the session
  base_image       "127.0.0.1:5000/autobuild-test/busybox:latest", built FROM scratch with busybox
  make_git_repo    (function) make_git_repo(files, branch="master") -> GitRepo
  multihost        (module) Cluster: two build hosts in network namespaces, each with its own
                   dockerd; Redis, registry, git daemon and web on the test's bridge address
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import redis
import requests

from tests.integration.multihost import Cluster, start_cluster
from tests.integration.multihost_net import NetworkError, skip_unless_namespaces_work
from tests.integration.services import (
    REDIS_HOST,
    REDIS_PORT,
    REGISTRY_HOST,
    AuthRegistry,
    GitRepo,
    ServiceError,
    build_and_push_base_image,
    create_git_repo,
    lock_redis_db,
    registry_answers,
    start_auth_registry,
    unavailable,
)

# --- Redis --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL on a test database that this session holds alone, flushed at session start."""
    try:
        with lock_redis_db() as db:
            url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
            conn = redis.Redis.from_url(url, socket_connect_timeout=3)
            try:
                conn.ping()
            except redis.RedisError as err:
                unavailable(f"Redis does not answer on {REDIS_HOST}:{REDIS_PORT}: {err}")
            conn.flushdb()
            conn.close()
            yield url
    except ServiceError as err:
        unavailable(str(err))


@pytest.fixture(scope="session")
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def clean_redis(redis_conn: redis.Redis) -> redis.Redis:
    """The test database, emptied before this test."""
    redis_conn.flushdb()
    return redis_conn


# --- Docker -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as err:
        unavailable(f"the Docker daemon does not answer: {err}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_api(docker_client: docker.DockerClient) -> docker.APIClient:
    """The low-level API client (``build``/``push`` streams) of ``docker_client``."""
    api: docker.APIClient = docker_client.api
    return api


# --- registries ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry_url() -> str:
    """The registry from ``make services``: ``127.0.0.1:5000``, no auth."""
    if not registry_answers(REGISTRY_HOST):
        unavailable(f"no registry answers GET http://{REGISTRY_HOST}/v2/ with 200")
    return REGISTRY_HOST


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A second registry, started for this session, that requires htpasswd credentials."""
    root = tmp_path_factory.mktemp("auth-registry")
    try:
        running = start_auth_registry(root)
    except ServiceError as err:
        unavailable(str(err))
    try:
        yield running.registry
    finally:
        running.stop()


# --- images -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def base_image(docker_api: docker.APIClient, registry_url: str) -> str:
    """``127.0.0.1:5000/autobuild-test/busybox:latest``: busybox FROM scratch, with /bin/sh, pushed
    to the local registry. Test Dockerfiles start ``FROM <base_image>``."""
    try:
        return build_and_push_base_image(docker_api, registry_url)
    except (ServiceError, docker.errors.DockerException) as err:
        unavailable(f"could not provide the base image: {err}")


# --- git ----------------------------------------------------------------------------------------

MakeGitRepo = Callable[..., GitRepo]


@pytest.fixture
def make_git_repo(tmp_path: Path) -> MakeGitRepo:
    """A factory: ``make_git_repo({"Dockerfile": "..."}, branch="master") -> GitRepo``, a
    non-bare repository under the test's tmp_path with ``files`` in its first commit."""
    counter = itertools.count(1)

    def make(files: Mapping[str, Any], branch: str = "master") -> GitRepo:
        return create_git_repo(tmp_path / f"repo{next(counter)}", files, branch=branch)

    return make


# --- several build hosts ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multihost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two build hosts (network namespaces, each with its own dockerd), with Redis, the registry
    and a git daemon on the test's bridge address (tests/integration/multihost.py). The test
    calls ``multihost.configure(entries)`` to start the web process and a worker per host."""
    skip_unless_namespaces_work()
    try:
        with start_cluster(tmp_path_factory.mktemp("multihost-logs"), hosts=2) as cluster:
            yield cluster
    except (ServiceError, NetworkError) as err:
        unavailable(f"the multi-host set-up did not start: {err}")
