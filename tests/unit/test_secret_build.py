"""The pieces of a build with secrets that need no daemon: which secret values a build gets, the
context tar BuildKit reads, the build parameters, and reading the build stream."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import pytest

from buildrules.model import BuildRule, Repository
from core.events import RefType
from core.settings import Settings
from worker.buildkit_session.proto import length_field
from worker.containment import BuildLimits
from worker.docker_build import BuildRequest
from worker.errors import DaemonError, DockerBuildError, UserBuildError
from worker.secret_build import (
    build_params,
    consume_trace,
    context_tar,
    secret_values,
    session_credentials,
)


def repository(**rules_secrets: tuple[tuple[str, str], ...]) -> Repository:
    rules = tuple(
        BuildRule(RefType.BRANCH, name, ("latest",), secrets=secrets)
        for name, secrets in rules_secrets.items()
    )
    return Repository(
        "github",
        "octo/app",
        "https://x/y.git",
        "127.0.0.1:5000/octo/app",
        rules,
        secrets=(("NPM_TOKEN", "NPM_ENV"),),
    )


def test_a_build_gets_the_secrets_of_its_rules_from_the_environment() -> None:
    repo = repository(master=(("NPM_TOKEN", "NPM_ENV"), ("aws", "AWS_ENV")), dev=())
    settings = Settings.from_env({"NPM_ENV": "npm-value", "AWS_ENV": "aws-value"})
    assert secret_values(repo, (0,), settings) == {"NPM_TOKEN": b"npm-value", "aws": b"aws-value"}
    assert secret_values(repo, (), settings) == {"NPM_TOKEN": b"npm-value"}  # the repository's


def test_an_unset_variable_fails_the_build_naming_the_secret_and_variable() -> None:
    repo = repository(master=(("NPM_TOKEN", "NPM_ENV"),))
    with pytest.raises(
        UserBuildError,
        match="Build secret NPM_TOKEN needs the environment "
        "variable NPM_ENV on the worker, and it is not set",
    ):
        secret_values(repo, (0,), Settings.from_env({}))


def test_a_secret_larger_than_buildkit_accepts_fails_the_build_by_id() -> None:
    repo = repository(master=(("BIG", "BIG_ENV"),))
    settings = Settings.from_env({"NPM_ENV": "npm-value", "BIG_ENV": "x" * 600_000})
    with pytest.raises(UserBuildError, match="Build secret BIG is larger than BuildKit's"):
        secret_values(repo, (0,), settings)


def test_a_secret_too_short_to_mask_fails_the_build() -> None:
    repo = repository(master=())
    with pytest.raises(UserBuildError, match=r"Build secret NPM_TOKEN \(NPM_ENV\) is shorter than"):
        secret_values(repo, (0,), Settings.from_env({"NPM_ENV": "abc"}))


def test_registry_credentials_become_user_password_pairs() -> None:
    found = {"r:5001": {"username": "robot", "password": "pw-value"}}
    assert session_credentials(found) == {"r:5001": ("robot", "pw-value")}


def test_the_context_is_a_gnu_tar_honouring_dockerignore(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.txt").write_text("app\n")
    (tmp_path / "secret.env").write_text("x\n")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / ("n" * 120)).write_text("long name\n")
    (tmp_path / ".dockerignore").write_text("# comment\nsecret.env\n")
    body = context_tar(tmp_path, "Dockerfile")
    assert b"ustar  \x00" in body[:512]  # GNU magic, not PAX (BuildKit would read PAX as text)
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("app.txt").read() == b"app\n"
    assert {"Dockerfile", "app.txt", "deep", f"deep/{'n' * 120}"} <= names
    assert "secret.env" not in names


def test_build_parameters_name_the_session_and_never_carry_a_secret(tmp_path: Path) -> None:
    request = BuildRequest(
        context_dir=tmp_path,
        dockerfile="docker/Dockerfile",
        image="127.0.0.1:5000/octo/app",
        tags=("latest", "v1"),
        labels={"a": "b"},
        build_args={"X": "1"},
        limits=BuildLimits(network_mode="none", container_limits={"memory": 1024}),
        nocache=True,
        secrets={"NPM_TOKEN": b"npm-secret-value"},
        registry_auth={"r": ("u", "registry-secret-value")},
    )
    params = build_params(request, "sess-1")
    assert params["version"] == "2" and params["session"] == "sess-1"
    assert params["t"] == ["127.0.0.1:5000/octo/app:latest", "127.0.0.1:5000/octo/app:v1"]
    assert params["dockerfile"] == "docker/Dockerfile" and params["nocache"] == "1"
    assert params["networkmode"] == "none" and params["memory"] == 1024
    assert json.loads(params["labels"]) == {"a": "b"}
    text = json.dumps(params) + repr(request)
    assert "npm-secret-value" not in text and "registry-secret-value" not in text


def trace_chunk(record: bytes) -> dict[str, object]:
    return {"id": "moby.buildkit.trace", "aux": base64.b64encode(record).decode()}


def test_the_stream_gives_log_lines_and_the_image_id() -> None:
    lines: list[str] = []
    record = length_field(
        1, length_field(1, "d") + length_field(3, "[1/1] RUN x") + length_field(5, b"\x08\x01")
    )
    chunks = [
        trace_chunk(record),
        {"id": "moby.image.id", "aux": {"ID": "sha256:abc"}},
        {"stream": "Successfully tagged x:latest\n"},
    ]
    result = consume_trace(chunks, lines.append, lambda: None)
    assert result.image_id == "sha256:abc"
    assert lines == ["#1 [1/1] RUN x", "Successfully tagged x:latest"]


def test_an_error_in_the_stream_fails_with_buildkits_message_and_last_output() -> None:
    output = length_field(3, length_field(1, "d") + length_field(4, b"npm ERR! 404\n"))
    chunks = [trace_chunk(output), {"error": "executor failed running [/bin/sh -c npm ci]"}]
    with pytest.raises(DockerBuildError) as caught:
        consume_trace(chunks, lambda line: None, lambda: None)
    assert "executor failed running" in str(caught.value)
    assert "npm ERR! 404" in str(caught.value)


def test_a_stream_without_an_image_id_is_a_daemon_error() -> None:
    with pytest.raises(DaemonError):
        consume_trace([], lambda line: None, lambda: None)
