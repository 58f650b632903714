"""gRPC framing and status trailers, and the session's services (secrets, auth, health)."""

from __future__ import annotations

import pytest

from worker.buildkit_session import proto
from worker.buildkit_session.grpc import (
    GrpcError,
    Status,
    frame,
    single_message,
    trailers,
    unframe,
)
from worker.buildkit_session.services import (
    AUTH_CREDENTIALS,
    AUTH_TOKEN_METHODS,
    HEALTH_CHECK,
    MAX_SECRET_BYTES,
    SECRETS_GET,
    call,
    session_methods,
)


def test_a_frame_is_a_flag_byte_a_big_endian_length_and_the_message() -> None:
    assert frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frame(b"") == b"\x00\x00\x00\x00\x00"


def test_unframe_splits_consecutive_messages() -> None:
    assert unframe(frame(b"one") + frame(b"") + frame(b"three")) == [b"one", b"", b"three"]
    assert single_message(frame(b"x")) == b"x"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\x00\x00\x00", Status.INVALID_ARGUMENT),  # prefix cut short
        (b"\x00\x00\x00\x00\x05abc", Status.INVALID_ARGUMENT),  # message cut short
        (b"\x01\x00\x00\x00\x01x", Status.UNIMPLEMENTED),  # compressed
        (b"\x00\xff\xff\xff\xff", Status.RESOURCE_EXHAUSTED),  # 4 GiB announced
    ],
)
def test_bad_frames_are_refused_with_a_status(body: bytes, status: Status) -> None:
    with pytest.raises(GrpcError) as caught:
        unframe(body)
    assert caught.value.status is status


def test_a_unary_call_needs_exactly_one_message() -> None:
    with pytest.raises(GrpcError, match="one message, not 2"):
        single_message(frame(b"a") + frame(b"b"))
    with pytest.raises(GrpcError, match="one message, not 0"):
        single_message(b"")


def test_trailers_carry_the_status_and_a_percent_encoded_message() -> None:
    assert trailers(Status.OK) == [("grpc-status", "0")]
    assert trailers(Status.NOT_FOUND, "secret ü 100% gone") == [
        ("grpc-status", "5"),
        ("grpc-message", "secret %C3%BC 100%25 gone"),
    ]


METHODS = session_methods(
    {"NPM_TOKEN": b"token-value"}, {"registry.example:5000": ("robot", "robot-password")}
)


def test_get_secret_answers_the_declared_value() -> None:
    answer = call(METHODS, SECRETS_GET, proto.GetSecretRequest("NPM_TOKEN").encode())
    assert proto.GetSecretResponse.decode(answer).data == b"token-value"


def test_an_undeclared_secret_is_not_found_and_named() -> None:
    with pytest.raises(GrpcError) as caught:
        call(METHODS, SECRETS_GET, proto.GetSecretRequest("OTHER").encode())
    assert caught.value.status is Status.NOT_FOUND
    assert caught.value.message == "secret OTHER not found"


def test_credentials_are_given_for_a_known_host_only() -> None:
    known = call(
        METHODS, AUTH_CREDENTIALS, proto.CredentialsRequest("registry.example:5000").encode()
    )
    assert proto.CredentialsResponse.decode(known) == proto.CredentialsResponse(
        "robot", "robot-password"
    )
    other = call(METHODS, AUTH_CREDENTIALS, proto.CredentialsRequest("docker.io").encode())
    assert proto.CredentialsResponse.decode(other) == proto.CredentialsResponse("", "")


@pytest.mark.parametrize("method", AUTH_TOKEN_METHODS)
def test_token_methods_are_unimplemented_so_buildkit_uses_the_credentials(method: str) -> None:
    with pytest.raises(GrpcError) as caught:
        call(METHODS, method, b"")
    assert caught.value.status is Status.UNIMPLEMENTED


def test_the_health_check_answers_serving() -> None:
    answer = call(METHODS, HEALTH_CHECK, proto.HealthCheckRequest().encode())
    assert proto.HealthCheckResponse.decode(answer).status == proto.SERVING


def test_an_unknown_method_is_unimplemented() -> None:
    with pytest.raises(GrpcError) as caught:
        call(METHODS, "/moby.filesync.v1.FileSync/DiffCopy", b"")
    assert caught.value.status is Status.UNIMPLEMENTED


def test_a_malformed_request_is_an_invalid_argument() -> None:
    with pytest.raises(GrpcError) as caught:
        call(METHODS, SECRETS_GET, b"\x0a\x09NPM")
    assert caught.value.status is Status.INVALID_ARGUMENT


def test_an_unexpected_failure_is_internal_without_its_text() -> None:
    def broken(data: bytes) -> bytes:
        raise RuntimeError("token-value leaked in an exception")

    with pytest.raises(GrpcError) as caught:
        call({"/x/Y": broken}, "/x/Y", b"")
    assert caught.value.status is Status.INTERNAL
    assert "token-value" not in caught.value.message


def test_a_secret_larger_than_buildkit_accepts_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="build secret BIG is larger"):
        session_methods({"BIG": b"x" * (MAX_SECRET_BYTES + 1)}, {})
