"""Image indexes: the document put under every tag, and reading one back."""

from __future__ import annotations

import json

import pytest

from core.registry_api import sha256_digest
from worker.errors import RegistryError
from worker.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    index_document,
    index_platforms,
)

AMD = Descriptor("linux/amd64", "sha256:" + "a" * 64, 528, DOCKER_MANIFEST)
ARM = Descriptor("linux/arm/v7", "sha256:" + "b" * 64, 529, DOCKER_MANIFEST)


def test_docker_manifests_make_a_docker_manifest_list_in_the_order_given():
    media_type, body = index_document((AMD, ARM))
    document = json.loads(body)
    assert media_type == DOCKER_LIST == document["mediaType"]
    assert document["schemaVersion"] == 2
    assert document["manifests"] == [
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": AMD.digest,
            "size": 528,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": ARM.digest,
            "size": 529,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        },
    ]
    assert index_platforms(body) == {"linux/amd64": AMD.digest, "linux/arm/v7": ARM.digest}


def test_an_oci_manifest_makes_an_oci_index():
    oci = Descriptor("linux/arm64", "sha256:" + "c" * 64, 400, OCI_MANIFEST)
    media_type, _ = index_document((AMD, oci))
    assert media_type == OCI_INDEX


def test_a_body_that_is_not_an_index_is_a_registry_error():
    with pytest.raises(RegistryError, match="not an index"):
        index_platforms(b'{"schemaVersion": 2, "layers": []}')


def test_the_digest_is_the_sha256_of_the_exact_bytes():
    assert sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
