"""The hand-written protobuf messages of the BuildKit session: wire bytes checked against what
``protoc`` encodes for the same values (the literals below), round trips, and malformed input."""

from __future__ import annotations

import pytest

from worker.buildkit_session import proto


def test_varints_encode_as_protobuf_does() -> None:
    assert proto.encode_varint(0) == b"\x00"
    assert proto.encode_varint(1) == b"\x01"
    assert proto.encode_varint(300) == b"\xac\x02"
    assert proto.encode_varint(-1) == b"\xff" * 9 + b"\x01"


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varints_round_trip(value: int) -> None:
    encoded = proto.encode_varint(value)
    assert proto.decode_varint(encoded + b"rest", 0) == (value, len(encoded))


def test_a_get_secret_request_decodes_from_the_daemons_bytes() -> None:
    # ID "NPM_TOKEN", annotations {"k": "v"}: field 1, then a map entry message in field 2
    wire = b"\x0a\x09NPM_TOKEN" + b"\x12\x06\x0a\x01k\x12\x01v"
    request = proto.GetSecretRequest.decode(wire)
    assert request == proto.GetSecretRequest("NPM_TOKEN", {"k": "v"})
    assert request.encode() == wire


def test_a_get_secret_response_carries_the_bytes_as_field_one() -> None:
    assert proto.GetSecretResponse(b"\x00\xffvalue").encode() == b"\x0a\x07\x00\xffvalue"
    assert proto.GetSecretResponse.decode(b"\x0a\x03abc").data == b"abc"


def test_an_empty_secret_is_an_empty_message() -> None:
    assert proto.GetSecretResponse(b"").encode() == b""


def test_credentials_round_trip_and_hide_the_secret_in_repr() -> None:
    response = proto.CredentialsResponse("robot", "pa55word-value")
    assert response.encode() == b"\x0a\x05robot\x12\x0epa55word-value"
    assert proto.CredentialsResponse.decode(response.encode()) == response
    assert "pa55word-value" not in repr(response)
    assert "pa55word-value" not in repr(proto.GetSecretResponse(b"pa55word-value"))


def test_a_credentials_request_names_the_host() -> None:
    assert proto.CredentialsRequest.decode(b"\x0a\x0e127.0.0.1:5001").host == "127.0.0.1:5001"


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = b"\x18\x96\x01" + b"\x21" + b"\x00" * 8 + b"\x2d" + b"\x00" * 4 + b"\x32\x01x"
    assert proto.CredentialsRequest.decode(unknown + b"\x0a\x01h").host == "h"


def test_a_health_check_answer_is_serving() -> None:
    assert proto.HealthCheckResponse().encode() == b"\x08\x01"
    assert proto.HealthCheckResponse.decode(b"\x08\x01").status == proto.SERVING
    assert proto.HealthCheckRequest.decode(b"").service == ""


@pytest.mark.parametrize(
    ("wire", "complaint"),
    [
        (b"\x0a\x05abc", "runs past the end"),
        (b"\x0a", "truncated varint"),
        (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x00\x01", "field number 0"),
        (b"\x0a\x02\xff\xfe", "not UTF-8"),
        (b"\x08\x01", "not a string"),
    ],
)
def test_malformed_messages_raise_a_proto_error(wire: bytes, complaint: str) -> None:
    with pytest.raises(proto.ProtoError, match=complaint):
        proto.CredentialsRequest.decode(wire)
