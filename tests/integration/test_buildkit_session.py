"""BuildKit's session against the real daemon: build secrets and registry credentials.

Each test opens a session (``POST /session`` upgraded to HTTP/2, we serve gRPC) and runs a BuildKit
build that names it (``POST /build?version=2&session=ID``, body a USTAR tar). The secret must reach
the ``RUN`` step (the step prints its md5) and appear nowhere else: not in the image's files (every
byte of ``docker save``), not in its history, not in anything the build stream carried. A ``FROM``
image that only the htpasswd registry has builds with the session's credentials and fails without.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from tests.integration.buildkit_helpers import buildkit_build, push_private_base
from tests.integration.services import AuthRegistry
from worker.buildkit_session import BuildSession, Served
from worker.buildkit_session.grpc import Status
from worker.buildkit_session.services import AUTH_CREDENTIALS, HEALTH_CHECK, SECRETS_GET

pytestmark = pytest.mark.integration

SECRET = "npm-Tok3n-" + uuid.uuid4().hex  # unique per run: nothing else can contain it


@pytest.fixture
def tag(docker_api: docker.APIClient) -> Iterator[str]:
    name = f"autobuild-test/bksession-{uuid.uuid4().hex[:8]}:latest"
    yield name
    with contextlib.suppress(docker.errors.NotFound):
        docker_api.remove_image(name, force=True)


def test_a_secret_reaches_run_and_nothing_else(
    docker_api: docker.APIClient, base_image: str, tag: str
) -> None:
    dockerfile = f"""\
        FROM {base_image}
        RUN --mount=type=secret,id=NPM_TOKEN md5sum /run/secrets/NPM_TOKEN \\
            && ls -l /run/secrets > /listing
        """
    with BuildSession.open(docker_api, secrets={"NPM_TOKEN": SECRET.encode()}) as session:
        image_id, error, carried = buildkit_build(docker_api, dockerfile, tag, session)
    assert error == ""
    assert image_id is not None
    assert hashlib.md5(SECRET.encode()).hexdigest().encode() in carried  # RUN read the value
    assert Served(SECRETS_GET, Status.OK) in session.calls
    assert SECRET.encode() not in carried  # the build stream (the log) never carries it
    history = json.dumps(docker_api.history(image_id))
    assert "NPM_TOKEN" in history and SECRET not in history
    saved = b"".join(docker_api.get_image(image_id))  # every file and the config
    assert SECRET.encode() not in saved
    assert base64.b64encode(SECRET.encode()) not in saved


def test_an_undeclared_secret_fails_the_run_step(
    docker_api: docker.APIClient, base_image: str, tag: str
) -> None:
    dockerfile = f"""\
        FROM {base_image}
        RUN --mount=type=secret,id=MISSING,required=true cat /run/secrets/MISSING
        """
    with BuildSession.open(docker_api, secrets={"OTHER": b"value-of-other"}) as session:
        image_id, error, _ = buildkit_build(docker_api, dockerfile, tag, session)
    assert image_id is None
    assert "MISSING" in error and "not found" in error
    assert Served(SECRETS_GET, Status.NOT_FOUND) in session.calls


@pytest.fixture
def private_base(docker_api: docker.APIClient, base_image: str, auth_registry: AuthRegistry) -> str:
    return push_private_base(docker_api, base_image, auth_registry)


def test_a_from_image_on_a_private_registry_pulls_with_the_session_credentials(
    docker_api: docker.APIClient, private_base: str, auth_registry: AuthRegistry, tag: str
) -> None:
    dockerfile = f"FROM {private_base}\nRUN echo built > /built\n"
    credentials = {auth_registry.host: (auth_registry.username, auth_registry.password)}
    with BuildSession.open(docker_api, registry_auth=credentials) as session:
        image_id, error, carried = buildkit_build(docker_api, dockerfile, tag, session)
    assert error == ""
    assert image_id is not None
    assert Served(AUTH_CREDENTIALS, Status.OK) in session.calls
    assert auth_registry.password.encode() not in carried


def test_a_from_image_on_a_private_registry_fails_without_credentials(
    docker_api: docker.APIClient, private_base: str, tag: str
) -> None:
    dockerfile = f"FROM {private_base}\nRUN echo built > /built\n"
    with BuildSession.open(docker_api) as session:
        image_id, error, _ = buildkit_build(docker_api, dockerfile, tag, session)
    assert image_id is None
    assert "401" in error or "unauthorized" in error.lower() or "authoriz" in error.lower()
    assert Served(AUTH_CREDENTIALS, Status.OK) in session.calls  # asked, got none


def test_the_session_answers_the_daemons_health_checks_during_a_long_build(
    docker_api: docker.APIClient, base_image: str, tag: str
) -> None:
    """The daemon checks the session every 5 s and drops it after failed checks; a step that
    outlasts a few checks still gets its secret afterwards."""
    dockerfile = f"""\
        FROM {base_image}
        RUN sleep 12
        RUN --mount=type=secret,id=LATE md5sum /run/secrets/LATE
        """
    started = time.monotonic()
    with BuildSession.open(docker_api, secrets={"LATE": b"late-secret-value"}) as session:
        image_id, error, carried = buildkit_build(docker_api, dockerfile, tag, session)
    assert error == "" and image_id is not None
    assert time.monotonic() - started >= 12
    assert Served(HEALTH_CHECK, Status.OK) in session.calls
    assert hashlib.md5(b"late-secret-value").hexdigest().encode() in carried


def test_closing_the_session_ends_its_server_thread(docker_api: docker.APIClient) -> None:
    with BuildSession.open(docker_api, secrets={"X": b"value-x"}) as session:
        pass
    assert session.ended == "stopped"
    assert session.error is None


def test_a_session_ends_at_its_deadline(docker_api: docker.APIClient) -> None:
    with BuildSession.open(docker_api, secrets={"X": b"value-x"}, lifetime=1.0) as session:
        deadline = time.monotonic() + 10
        while session.ended is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.ended == "deadline"
