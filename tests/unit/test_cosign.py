"""Cosign's formats from core/cosign.py: keys, payloads, DSSE and tag names."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.cosign import (
    DSSE_TYPE,
    IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_TYPE,
    CosignKeyError,
    attestation_layer,
    cosign_tag,
    dsse_envelope,
    generate_key_pair,
    load_public_key,
    load_signing_key,
    pae,
    signature_layer,
    simple_signing_payload,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def keys(tmp_path):
    private, public = generate_key_pair(tmp_path / "cosign")
    return load_signing_key(private), load_public_key(public)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_key(tmp_path):
    private, public = generate_key_pair(tmp_path / "ci")
    assert (private.name, public.name) == ("ci.key", "ci.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keygen_never_overwrites_a_key(tmp_path):
    generate_key_pair(tmp_path / "ci")
    with pytest.raises(CosignKeyError, match="exists"):
        generate_key_pair(tmp_path / "ci")


def test_a_signature_verifies_with_the_public_key_and_not_after_a_change(keys):
    signing, public = keys
    signature = signing.sign(b"payload")
    assert public.verifies(b"payload", signature)
    assert not public.verifies(b"payload!", signature)
    assert not public.verifies(b"payload", "not base64 at all")


def test_a_key_that_is_not_ecdsa_p256_is_refused(tmp_path):
    path = tmp_path / "rsa.key"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(CosignKeyError, match="not an ECDSA P-256 key"):
        load_signing_key(path)
    p384 = tmp_path / "p384.pub"
    p384.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(CosignKeyError, match="not an ECDSA P-256 key"):
        load_public_key(p384)
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("hello")
    with pytest.raises(CosignKeyError, match="not a PEM public key"):
        load_public_key(garbage)
    with pytest.raises(CosignKeyError, match="Cannot read"):
        load_signing_key(tmp_path / "missing.key")


def test_cosign_tags_replace_the_colon_and_add_the_suffix():
    assert cosign_tag(DIGEST, "sig") == "sha256-" + "ab" * 32 + ".sig"
    assert cosign_tag(DIGEST, "att") == "sha256-" + "ab" * 32 + ".att"


def test_the_simple_signing_payload_has_cosigns_critical_section():
    payload = json.loads(simple_signing_payload("127.0.0.1:5000/app", DIGEST))
    assert payload == {
        "critical": {
            "identity": {"docker-reference": "127.0.0.1:5000/app"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": "cosign container image signature",
        },
        "optional": None,
    }


def test_pae_is_the_dsse_pre_authentication_encoding():
    # The example of secure-systems-lab/dsse protocol.md.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_a_dsse_envelope_signs_the_pae_of_its_payload(keys):
    signing, public = keys
    envelope = json.loads(dsse_envelope({"_type": "x"}, signing))
    assert envelope["payloadType"] == IN_TOTO_PAYLOAD_TYPE
    payload = base64.b64decode(envelope["payload"])
    assert json.loads(payload) == {"_type": "x"}
    (signature,) = envelope["signatures"]
    assert public.verifies(pae(IN_TOTO_PAYLOAD_TYPE, payload), signature["sig"])
    assert json.loads(dsse_envelope({"_type": "x"}, None))["signatures"] == []


def test_layers_carry_the_media_types_and_annotations_cosign_reads(keys):
    signing, public = keys
    layer = signature_layer("127.0.0.1:5000/app", DIGEST, signing, "build-1")
    descriptor = layer.descriptor()
    assert descriptor["mediaType"] == SIMPLE_SIGNING_TYPE
    assert descriptor["size"] == len(layer.data)
    assert public.verifies(layer.data, descriptor["annotations"][SIGNATURE_ANNOTATION])
    attestation = attestation_layer({"_type": "x"}, signing, "https://slsa.dev/provenance/v1")
    assert attestation.media_type == DSSE_TYPE
    assert attestation.annotations == {
        SIGNATURE_ANNOTATION: "",
        PREDICATE_ANNOTATION: "https://slsa.dev/provenance/v1",
    }
