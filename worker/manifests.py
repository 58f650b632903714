"""Image indexes through the registry API: read a pushed manifest, put an index, check it.

A multi-platform build pushes one image per platform, then ``PUT``s one index that lists them,
under every tag. The index is a Docker manifest list when every image is a Docker schema 2
manifest (what the daemon pushes), else an OCI image index. The registry calls (``GET`` and ``PUT``
of manifests, with its authentication) are :class:`~worker.registry.RegistryClient`'s; this module
writes and reads the documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worker.errors import RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)


@dataclass(frozen=True)
class Descriptor:
    """One platform's image in an index."""

    platform: str  # linux/arm64, linux/arm/v7
    digest: str
    size: int
    media_type: str

    def to_json(self) -> dict[str, Any]:
        os_name, architecture, *variant = self.platform.split("/")
        platform: dict[str, str] = {"architecture": architecture, "os": os_name}
        if variant:
            platform["variant"] = variant[0]
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "platform": platform,
        }


def index_document(descriptors: tuple[Descriptor, ...]) -> tuple[str, bytes]:
    """(media type, body) of the index listing ``descriptors`` in order."""
    docker = all(d.media_type == DOCKER_MANIFEST for d in descriptors)
    media_type = DOCKER_LIST if docker else OCI_INDEX
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [d.to_json() for d in descriptors],
    }
    return media_type, json.dumps(document, indent=3).encode()


def index_platforms(body: bytes) -> dict[str, str]:
    """{platform: digest} of an index's entries; RegistryError when it is not an index."""
    try:
        document = json.loads(body)
        entries = document["manifests"]
        found: dict[str, str] = {}
        for entry in entries:
            platform = entry["platform"]
            name = f"{platform['os']}/{platform['architecture']}"
            if platform.get("variant"):
                name += f"/{platform['variant']}"
            found[name] = entry["digest"]
        return found
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError("The registry's copy of the image index is not an index") from exc
