"""The gRPC services a build session offers the daemon: secrets, registry credentials, health.

Each method takes the request message's bytes and returns the response message's bytes, or raises
:class:`GrpcError`. Nothing here logs or echoes a secret: error messages name ids and hosts only.

- ``moby.buildkit.secrets.v1.Secrets/GetSecret``: the value of a declared secret, for
  ``RUN --mount=type=secret,id=ID``; an undeclared id is ``NOT_FOUND`` (BuildKit then fails the
  step, or leaves the file out for ``required=false``).
- ``moby.filesync.v1.Auth/Credentials``: username and password for a registry host, empty for a
  host we have none for (BuildKit then pulls anonymously). The token methods answer
  ``UNIMPLEMENTED``: BuildKit then fetches registry tokens itself with these credentials
  (``GetTokenAuthority`` is the call it makes first; only a key from it leads to ``FetchToken``).
- ``grpc.health.v1.Health/Check``: the daemon checks the session every few seconds and drops it
  when the check fails; always ``SERVING`` while the session is open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

import worker.buildkit_session.proto as proto
from worker.buildkit_session.grpc import GrpcError, Status

Method = Callable[[bytes], bytes]
T = TypeVar("T")

SECRETS_GET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
AUTH_CREDENTIALS = "/moby.filesync.v1.Auth/Credentials"
AUTH_TOKEN_METHODS = (
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
)
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
MAX_SECRET_BYTES = 500 * 1024  # BuildKit refuses larger secrets; refuse them here, by name


def _decode(decoder: Callable[[bytes], T], data: bytes) -> T:
    try:
        return decoder(data)
    except proto.ProtoError as exc:
        raise GrpcError(Status.INVALID_ARGUMENT, f"malformed request: {exc}") from exc


def secrets_service(secrets: Mapping[str, bytes]) -> dict[str, Method]:
    """``GetSecret`` over ``secrets`` (id → value)."""
    values = MappingProxyType(dict(secrets))

    def get_secret(data: bytes) -> bytes:
        request = _decode(proto.GetSecretRequest.decode, data)
        value = values.get(request.id)
        if value is None:
            raise GrpcError(Status.NOT_FOUND, f"secret {request.id} not found")
        return proto.GetSecretResponse(value).encode()

    return {SECRETS_GET: get_secret}


def auth_service(credentials: Mapping[str, tuple[str, str]]) -> dict[str, Method]:
    """``Credentials`` over ``credentials`` (registry host → (username, password)); the token
    methods refuse, which makes BuildKit use the credentials itself."""
    known = MappingProxyType(dict(credentials))

    def get_credentials(data: bytes) -> bytes:
        request = _decode(proto.CredentialsRequest.decode, data)
        username, password = known.get(request.host, ("", ""))
        return proto.CredentialsResponse(username, password).encode()

    def unimplemented(data: bytes) -> bytes:
        raise GrpcError(Status.UNIMPLEMENTED, "registry tokens come from BuildKit itself")

    methods: dict[str, Method] = {AUTH_CREDENTIALS: get_credentials}
    methods.update(dict.fromkeys(AUTH_TOKEN_METHODS, unimplemented))
    return methods


def health_service() -> dict[str, Method]:
    def check(data: bytes) -> bytes:
        _decode(proto.HealthCheckRequest.decode, data)
        return proto.HealthCheckResponse(proto.SERVING).encode()

    return {HEALTH_CHECK: check}


def session_methods(
    secrets: Mapping[str, bytes], credentials: Mapping[str, tuple[str, str]]
) -> dict[str, Method]:
    """Every method of a build session, by gRPC path."""
    oversized = sorted(key for key, value in secrets.items() if len(value) > MAX_SECRET_BYTES)
    if oversized:
        raise ValueError(
            f"build secret {oversized[0]} is larger than BuildKit's {MAX_SECRET_BYTES} bytes"
        )
    return {**health_service(), **secrets_service(secrets), **auth_service(credentials)}


def call(methods: Mapping[str, Method], path: str, message: bytes) -> bytes:
    """Run one method; an unknown path is ``UNIMPLEMENTED``, an unexpected failure ``INTERNAL``
    (its text stays here: it could hold anything)."""
    method = methods.get(path)
    if method is None:
        raise GrpcError(Status.UNIMPLEMENTED, f"unknown method {path}")
    try:
        return method(message)
    except GrpcError:
        raise
    except Exception as exc:
        raise GrpcError(Status.INTERNAL, f"{path} failed ({type(exc).__name__})") from exc
