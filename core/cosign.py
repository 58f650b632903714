"""Cosign's registry layout, written and read with ``cryptography``: no Sigstore service needed.

What `cosign sign --key` and `cosign attest --key` store, after sigstore/cosign's
``specs/SIGNATURE_SPEC.md`` and ``specs/ATTESTATION_SPEC.md`` (tag-based discovery, the only one
a registry without the referrers API offers):

- the signatures of ``repo@sha256:<hex>`` are the layers of an OCI image manifest tagged
  ``sha256-<hex>.sig`` in the same repository: each layer a simple-signing payload
  (``application/vnd.dev.cosign.simplesigning.v1+json``) whose base64 ECDSA P-256/SHA-256
  signature is the layer annotation ``dev.cosignproject.cosign/signature``;
- its attestations are the layers of ``sha256-<hex>.att``: DSSE envelopes
  (``application/vnd.dsse.envelope.v1+json``) of in-toto statements, signed over DSSE's
  pre-authentication encoding, with the statement's ``predicateType`` as a layer annotation.

Keys are PEM: a PKCS#8 ECDSA P-256 private key (``AUTOBUILD_SIGNING_KEY``), and its
SubjectPublicKeyInfo public key, which ``cosign verify --key`` reads as it is.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.registry_api import OCI_MANIFEST, RegistryAPI, sha256_digest

SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_TYPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_ANNOTATION = "predicateType"
COSIGN_CLAIM_TYPE = "cosign container image signature"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
COSIGN_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(?:sig|att|sbom)$")


class CosignKeyError(ValueError):
    """A key file that cannot be read or is not an ECDSA P-256 key."""


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key (never printed)."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)

    def sign(self, data: bytes) -> str:
        """The base64 DER ECDSA/SHA-256 signature of ``data``."""
        return base64.b64encode(self.key.sign(data, ec.ECDSA(hashes.SHA256()))).decode("ascii")

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class PublicKey:
    key: ec.EllipticCurvePublicKey

    def verifies(self, data: bytes, signature_b64: str) -> bool:
        try:
            signature = base64.b64decode(signature_b64, validate=True)
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


def _check_curve(key: Any, path: Path) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or not (
        isinstance(key.curve, ec.SECP256R1)
    ):
        raise CosignKeyError(f"{path} is not an ECDSA P-256 key")


def load_signing_key(path: Path) -> SigningKey:
    """The PEM private key at ``path`` (unencrypted PKCS#8 or SEC1)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise CosignKeyError(f"Cannot read the signing key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise CosignKeyError(f"{path} is not an unencrypted PEM private key") from exc
    _check_curve(key, path)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return SigningKey(key)


def load_public_key(path: Path) -> PublicKey:
    """The PEM public key at ``path`` (as ``autobuild keygen`` and ``cosign`` write them)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise CosignKeyError(f"Cannot read the public key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise CosignKeyError(f"{path} is not a PEM public key") from exc
    _check_curve(key, path)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return PublicKey(key)


def generate_key_pair(prefix: Path) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (mode 0600, PKCS#8 PEM) and ``PREFIX.pub``; refuses to overwrite."""
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for existing in (private_path, public_path):
        if existing.exists():
            raise CosignKeyError(f"{existing} exists; not overwriting a key")
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    pem = key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(key.public_pem())
    return private_path, public_path


# -- payloads -------------------------------------------------------------------------------------


def cosign_tag(digest: str, suffix: str) -> str:
    """``sha256:abc...`` -> ``sha256-abc....sig`` (or ``.att``)."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.{suffix}"


def simple_signing_payload(
    docker_reference: str, digest: str, optional: Mapping[str, str] | None = None
) -> bytes:
    """The payload ``cosign sign`` signs: the image's reference (no tag) and manifest digest."""
    payload = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": COSIGN_CLAIM_TYPE,
        },
        "optional": dict(optional) if optional else None,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def dsse_envelope(statement: Mapping[str, Any], key: SigningKey | None) -> bytes:
    """The DSSE envelope of an in-toto statement; without a key it has no signatures."""
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signatures = []
    if key is not None:
        signatures.append({"keyid": "", "sig": key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))})
    envelope = {
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": signatures,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


# -- the manifests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    data: bytes = field(repr=False)
    media_type: str
    annotations: Mapping[str, str]

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "size": len(self.data),
            "digest": self.digest,
            "annotations": dict(self.annotations),
        }


def signature_layer(docker_reference: str, digest: str, key: SigningKey, build_id: str) -> Layer:
    payload = simple_signing_payload(docker_reference, digest, {"autobuild.build": build_id})
    return Layer(payload, SIMPLE_SIGNING_TYPE, {SIGNATURE_ANNOTATION: key.sign(payload)})


def attestation_layer(
    statement: Mapping[str, Any], key: SigningKey | None, predicate_type: str
) -> Layer:
    """An envelope layer; cosign annotates attestation layers with an empty signature."""
    return Layer(
        dsse_envelope(statement, key),
        DSSE_TYPE,
        {SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: predicate_type},
    )


def _config_blob(descriptors: Sequence[Mapping[str, Any]]) -> bytes:
    """The image config cosign writes beside its layers: nothing runs it, but the layers'
    (uncompressed) digests are its diff ids, as in any image."""
    config = {
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"} for _ in descriptors],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        "config": {},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def attach(api: RegistryAPI, name: str, digest: str, suffix: str, layer: Layer) -> str:
    """Add ``layer`` to the manifest tagged ``cosign_tag(digest, suffix)`` in ``name`` (made
    when missing; a layer already there is not added twice); returns the tag."""
    tag = cosign_tag(digest, suffix)
    descriptors: list[dict[str, Any]] = []
    existing = api.get_manifest(name, tag)
    if existing is not None:
        descriptors = [dict(d) for d in existing.json().get("layers", ()) if isinstance(d, dict)]
    if all(d.get("digest") != layer.digest for d in descriptors):
        api.put_blob(name, layer.data)
        descriptors.append(layer.descriptor())
    config = _config_blob(descriptors)
    api.put_blob(name, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256_digest(config)},
        "layers": descriptors,
    }
    api.put_manifest(name, tag, manifest)
    return tag
