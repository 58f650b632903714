"""The few protobuf messages of BuildKit's session, encoded and decoded by hand.

Only what the session's services exchange: length-delimited fields (strings, bytes, a
``map<string, string>``) and varints. Written out rather than generated with the ``protobuf``
package: eight flat messages do not justify a code generator, a runtime dependency with native
parts and generated modules that strict mypy cannot check. The wire format is
https://protobuf.dev/programming-guides/encoding/; the message definitions are BuildKit's
``session/secrets/secrets.proto``, ``session/auth/auth.proto`` and gRPC's ``health.proto``.

Decoding follows protobuf's rules: unknown fields are skipped, a repeated scalar field keeps the
last value, a missing one is its zero value. Malformed input raises :class:`ProtoError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5


class ProtoError(ValueError):
    """Bytes that are not a valid protobuf message."""


# --- wire format --------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """A non-negative int (or a negative int64, as protobuf does: two's complement, 10 bytes)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & ((1 << 64) - 1), pos
    raise ProtoError("varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` for every field of a message, in wire order.

    Varints come as int, length-delimited fields as bytes, fixed-width fields as int."""
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire_type == VARINT:
            value, pos = decode_varint(data, pos)
            yield number, wire_type, value
        elif wire_type == LENGTH_DELIMITED:
            length, pos = decode_varint(data, pos)
            if pos + length > len(data):
                raise ProtoError(f"field {number} runs past the end of the message")
            yield number, wire_type, data[pos : pos + length]
            pos += length
        elif wire_type in (FIXED64, FIXED32):
            width = 8 if wire_type == FIXED64 else 4
            if pos + width > len(data):
                raise ProtoError(f"field {number} runs past the end of the message")
            yield number, wire_type, int.from_bytes(data[pos : pos + width], "little")
            pos += width
        else:
            raise ProtoError(f"unsupported wire type {wire_type} (field {number})")


def length_field(number: int, value: bytes | str) -> bytes:
    """A length-delimited field; empty values are left out, as proto3 does."""
    raw = value.encode() if isinstance(value, str) else value
    if not raw:
        return b""
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(raw)) + raw


def varint_field(number: int, value: int) -> bytes:
    """A varint field; zero is left out, as proto3 does."""
    if not value:
        return b""
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def _text(value: int | bytes, name: str) -> str:
    if not isinstance(value, bytes):
        raise ProtoError(f"{name} is not a string")
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise ProtoError(f"{name} is not UTF-8") from exc


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    """The string fields ``names`` (number → name) of a message; others are skipped."""
    found = dict.fromkeys(names.values(), "")
    for number, _wire, value in fields(data):
        if number in names:
            found[names[number]] = _text(value, names[number])
    return found


# --- moby.buildkit.secrets.v1 -------------------------------------------------------------------


@dataclass(frozen=True)
class GetSecretRequest:
    id: str
    annotations: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        entries = b"".join(
            length_field(2, length_field(1, key) + length_field(2, value))
            for key, value in self.annotations.items()
        )
        return length_field(1, self.id) + entries

    @classmethod
    def decode(cls, data: bytes) -> GetSecretRequest:
        secret_id = ""
        annotations: dict[str, str] = {}
        for number, _wire, value in fields(data):
            if number == 1:
                secret_id = _text(value, "ID")
            elif number == 2:
                if not isinstance(value, bytes):
                    raise ProtoError("annotations entry is not a message")
                entry = _strings(value, {1: "key", 2: "value"})
                annotations[entry["key"]] = entry["value"]
        return cls(secret_id, annotations)


@dataclass(frozen=True)
class GetSecretResponse:
    data: bytes = field(repr=False)  # the secret stays out of logs and tracebacks

    def encode(self) -> bytes:
        return length_field(1, self.data)

    @classmethod
    def decode(cls, data: bytes) -> GetSecretResponse:
        found = b""
        for number, _wire, value in fields(data):
            if number == 1 and isinstance(value, bytes):
                found = value
        return cls(found)


# --- moby.filesync.v1 (the Auth service: BuildKit keeps this package name) ----------------------


@dataclass(frozen=True)
class CredentialsRequest:
    host: str

    def encode(self) -> bytes:
        return length_field(1, self.host)

    @classmethod
    def decode(cls, data: bytes) -> CredentialsRequest:
        return cls(_strings(data, {1: "Host"})["Host"])


@dataclass(frozen=True)
class CredentialsResponse:
    """Empty username and secret: no credentials, BuildKit pulls anonymously."""

    username: str = ""
    secret: str = field(default="", repr=False)  # stays out of logs and tracebacks

    def encode(self) -> bytes:
        return length_field(1, self.username) + length_field(2, self.secret)

    @classmethod
    def decode(cls, data: bytes) -> CredentialsResponse:
        found = _strings(data, {1: "Username", 2: "Secret"})
        return cls(found["Username"], found["Secret"])


# --- grpc.health.v1 -----------------------------------------------------------------------------

SERVING = 1  # HealthCheckResponse.ServingStatus.SERVING


@dataclass(frozen=True)
class HealthCheckRequest:
    service: str = ""

    def encode(self) -> bytes:
        return length_field(1, self.service)

    @classmethod
    def decode(cls, data: bytes) -> HealthCheckRequest:
        return cls(_strings(data, {1: "service"})["service"])


@dataclass(frozen=True)
class HealthCheckResponse:
    status: int = SERVING

    def encode(self) -> bytes:
        return varint_field(1, self.status)

    @classmethod
    def decode(cls, data: bytes) -> HealthCheckResponse:
        status = 0
        for number, wire, value in fields(data):
            if number == 1 and wire == VARINT and isinstance(value, int):
                status = value
        return cls(status)
