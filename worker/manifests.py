"""Image indexes through the registry API: read a pushed manifest, put an index, check it.

A multi-platform build pushes one image per platform, then ``PUT``s one index that lists them,
under every tag. The index is a Docker manifest list when every image is a Docker schema 2
manifest (what the daemon pushes), else an OCI image index. :class:`ManifestClient` extends the
read-only :class:`~worker.registry.RegistryClient` with ``GET`` and ``PUT`` of manifests, with the
same authentication (Basic, or a Bearer token for ``pull,push``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import requests

from worker.errors import RegistryError
from worker.registry import MANIFEST_ACCEPT, RegistryClient, repository_name

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


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


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


class ManifestClient(RegistryClient):
    """A registry client that also reads and writes manifests."""

    def __enter__(self) -> ManifestClient:
        return self

    def _send(
        self, method: str, name: str, reference: str, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        url = f"{self.base_url}/v2/{repository_name(self.host, name)}/manifests/{reference}"
        scope = f"repository:{repository_name(self.host, name)}:pull,push"
        for attempt in range(2):
            if self._authorization:
                headers["Authorization"] = self._authorization
            response = self._request(method, url, headers, **kwargs)
            if response.status_code == 401 and attempt == 0 and self._authorize(response, scope):
                continue
            return response
        return response

    def get_manifest(self, name: str, reference: str) -> tuple[str, bytes, str]:
        """(media type, body, digest) of ``name:reference``; RegistryError when missing."""
        response = self._send("GET", name, reference, {"Accept": MANIFEST_ACCEPT})
        if response.status_code != 200:
            raise RegistryError(
                f"Registry {self.host} answered HTTP {response.status_code}"
                f" for the manifest {name}@{reference}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return media_type, response.content, sha256_digest(response.content)

    def put_manifest(self, name: str, tag: str, media_type: str, body: bytes) -> str:
        """``PUT`` ``body`` under ``name:tag``; the digest the registry answers."""
        response = self._send("PUT", name, tag, {"Content-Type": media_type}, data=body)
        if response.status_code not in (200, 201):
            detail = response.text[:200].strip()
            raise RegistryError(
                f"Registry {self.host} refused the image index for {name}:{tag}:"
                f" HTTP {response.status_code} {detail}".rstrip()
            )
        return response.headers.get("Docker-Content-Digest", "").strip() or sha256_digest(body)
