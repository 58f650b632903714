"""Checking an image from the registry alone: its cosign signature and its signed provenance.

:func:`verify_image` is what ``autobuild verify IMAGE@DIGEST --key PUB`` runs: the digest must
carry at least one simple-signing layer whose signature the key verifies and whose payload names
that same digest, and at least one DSSE attestation whose envelope the key verifies and whose
statement is SLSA v1 provenance with the digest among its subjects. Anything else is a
:class:`VerificationError` saying which check failed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from core.cosign import (
    COSIGN_CLAIM_TYPE,
    DSSE_TYPE,
    IN_TOTO_PAYLOAD_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_TYPE,
    PublicKey,
    cosign_tag,
    pae,
)
from core.provenance import ProvenanceError, Summary, names_digest, summary
from core.registry_api import RegistryAPI


class VerificationError(Exception):
    """The image's signature or provenance does not check out."""


@dataclass(frozen=True)
class Verified:
    digest: str
    provenance: Summary


def _layers(api: RegistryAPI, name: str, digest: str, suffix: str, media_type: str) -> list[Any]:
    manifest = api.get_manifest(name, cosign_tag(digest, suffix))
    if manifest is None:
        return []
    return [
        layer
        for layer in manifest.json().get("layers") or ()
        if isinstance(layer, dict) and layer.get("mediaType") == media_type
    ]


def check_signature(api: RegistryAPI, name: str, digest: str, key: PublicKey) -> None:
    """Raise unless a signature layer of ``digest`` is valid for ``key`` and names ``digest``."""
    layers = _layers(api, name, digest, "sig", SIMPLE_SIGNING_TYPE)
    if not layers:
        raise VerificationError(f"{name}@{digest} has no signature ({cosign_tag(digest, 'sig')})")
    for layer in layers:
        payload = api.get_blob(name, str(layer.get("digest")))
        signature = str((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
        if not key.verifies(payload, signature):
            continue
        try:
            critical = json.loads(payload)["critical"]
        except (ValueError, KeyError, TypeError):
            continue
        if critical.get("type") != COSIGN_CLAIM_TYPE:
            continue
        if (critical.get("image") or {}).get("docker-manifest-digest") == digest:
            return
        raise VerificationError(
            f"The signature stored for {name}@{digest} signs another image"
            f" ({critical.get('image', {}).get('docker-manifest-digest')})"
        )
    raise VerificationError(f"No signature of {name}@{digest} verifies with this key")


def _statement(envelope: Any, key: PublicKey | None) -> dict[str, Any] | None:
    """The statement of an envelope whose signature ``key`` verifies (any, without a key)."""
    if not isinstance(envelope, dict) or envelope.get("payloadType") != IN_TOTO_PAYLOAD_TYPE:
        return None
    try:
        payload = base64.b64decode(str(envelope.get("payload", "")), validate=True)
    except (binascii.Error, ValueError):
        return None
    if key is not None:
        signed = pae(IN_TOTO_PAYLOAD_TYPE, payload)
        signatures = envelope.get("signatures") or ()
        if not any(
            isinstance(s, dict) and key.verifies(signed, str(s.get("sig"))) for s in signatures
        ):
            return None
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def read_provenance(
    api: RegistryAPI, name: str, digest: str, key: PublicKey | None
) -> dict[str, Any]:
    """The provenance statement attached to ``digest`` (signed by ``key`` when one is given)."""
    layers = _layers(api, name, digest, "att", DSSE_TYPE)
    if not layers:
        raise VerificationError(f"{name}@{digest} has no provenance ({cosign_tag(digest, 'att')})")
    for layer in layers:
        blob = api.get_blob(name, str(layer.get("digest")))
        try:
            envelope = json.loads(blob)
        except ValueError:
            continue
        document = _statement(envelope, key)
        if document is None or not names_digest(document, digest):
            continue
        try:
            summary(document)
        except ProvenanceError:
            continue
        return document
    if key is None:
        raise VerificationError(f"No provenance attached to {name}@{digest} names it")
    raise VerificationError(f"No provenance of {name}@{digest} is signed by this key")


def verify_image(api: RegistryAPI, name: str, digest: str, key: PublicKey) -> Verified:
    """Check the signature and the provenance of ``name@digest`` with ``key``."""
    check_signature(api, name, digest, key)
    document = read_provenance(api, name, digest, key)
    return Verified(digest, summary(document))
