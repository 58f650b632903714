"""The registry, browsable: each configured image's tags as the registry reports them, and what
Autobuild knows about each (the build that pushed it, its signature and provenance).

Only the registry's HTTP API (:mod:`core.registry_api`, with the configured credentials) and
Redis are read: the web process never imports docker and never runs git. A tag whose current
digest Autobuild did not push under that tag is "pushed from elsewhere".
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from app.context import AppContext
from buildrules.model import Repository
from core.build import BuildRecord, BuildStatus
from core.cosign import cosign_tag
from core.gitcmd import strip_credentials
from core.registry_api import Manifest, RegistryAPI, RegistryAPIError, configured_credentials
from core.registry_api import split_image as split
from core.retention import image_tags, tag_owner
from core.trust_store import TrustStore

MAX_TAGS = 200  # tags shown per image (the newest by name order beyond that are cut)
MAX_CATALOG = 500  # repositories read from a registry's catalog
_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")


@dataclass(frozen=True)
class BuildLink:
    id: str
    commit: str
    ref: str
    dockerfile: str
    dockerfile_url: str | None
    finished_at: str | None


@dataclass(frozen=True)
class TagView:
    tag: str
    digest: str
    size: int
    platforms: tuple[str, ...]
    created: str | None  # from the image config
    pushed_at: str | None  # when Autobuild's build finished pushing it
    origin: str  # "autobuild" | "elsewhere"
    signed: bool
    provenance: bool
    build: BuildLink | None


@dataclass(frozen=True)
class ImageView:
    image: str
    provider: str
    repository: str
    tags: tuple[TagView, ...]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegistryView:
    """A registry the configuration pushes to, and its repositories no configuration names."""

    host: str
    other_repositories: tuple[str, ...]
    catalog_hidden: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HistoryStep:
    created: str | None
    created_by: str
    size: int | None  # None: the step made no layer


def dockerfile_url(
    provider: str, clone_url: str, commit: str, context: str, path: str
) -> str | None:
    """A link to the Dockerfile at ``commit`` on the git host (None for plain git servers)."""
    base = strip_credentials(clone_url)
    if not base.startswith("https://"):
        return None
    base = base.removesuffix("/").removesuffix(".git")
    file = "/".join(p for p in (context.strip("/"), path) if p)
    quoted = quote(file)
    if provider == "github":
        return f"{base}/blob/{commit}/{quoted}"
    if provider == "gitlab":
        return f"{base}/-/blob/{commit}/{quoted}"
    if provider == "bitbucket":
        return f"{base}/src/{commit}/{quoted}"
    if provider == "gitea":
        return f"{base}/src/commit/{commit}/{quoted}"
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def build_link(repository: Repository, record: BuildRecord) -> BuildLink:
    return BuildLink(
        id=record.id,
        commit=record.commit,
        ref=f"{record.source_type.value} {record.source_name}",
        dockerfile=record.dockerfile,
        dockerfile_url=dockerfile_url(
            repository.provider,
            repository.clone_url,
            record.commit,
            record.context,
            record.dockerfile,
        ),
        finished_at=_iso(record.finished_at),
    )


def _platform(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    parts = [entry.get("os"), entry.get("architecture"), entry.get("variant")]
    text = "/".join(str(p) for p in parts if p)
    return text if text and text != "unknown/unknown" else None


def _describe(
    api: RegistryAPI, name: str, manifest: Manifest
) -> tuple[int, tuple[str, ...], str | None]:
    """Size (config and layers, or the platform manifests'), platforms and creation time."""
    data = manifest.json()
    if manifest.is_index:
        entries = [m for m in data.get("manifests") or () if isinstance(m, dict)]
        platforms = tuple(p for p in (_platform(m.get("platform")) for m in entries) if p)
        return sum(int(m.get("size", 0)) for m in entries), platforms, None
    config = data.get("config") or {}
    size = int(config.get("size", 0)) + sum(
        int(layer.get("size", 0)) for layer in data.get("layers") or () if isinstance(layer, dict)
    )
    blob = image_config(api, name, manifest)
    platform = _platform(blob)
    return size, (platform,) if platform else (), blob.get("created")


def image_config(api: RegistryAPI, name: str, manifest: Manifest) -> dict[str, Any]:
    config = manifest.json().get("config") or {}
    digest = config.get("digest")
    if not digest:
        return {}
    try:
        data = json.loads(api.get_blob(name, str(digest)))
    except (RegistryAPIError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ImageCatalog:
    """Reads the registries for the configured repositories."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.trust = TrustStore(context.redis)

    def api(self, host: str) -> RegistryAPI:
        credentials = configured_credentials(self.context.config, self.context.settings, host)
        return RegistryAPI(
            host,
            credentials,
            timeout=10.0,
            insecure_registries=self.context.settings.insecure_registries,
        )

    def images(self, repository: Repository) -> list[ImageView]:
        return [self.image(repository, image) for image in repository.images]

    def image(self, repository: Repository, image: str) -> ImageView:
        host, name = split(image)
        try:
            with self.api(host) as api:
                tags = image_tags(api, name)
                views = [
                    self.tag_view(api, repository, image, tag, digest)
                    for tag, digest in list(tags.items())[:MAX_TAGS]
                ]
        except RegistryAPIError as exc:
            return ImageView(image, repository.provider, repository.name, (), str(exc))
        views.sort(key=lambda v: (v.pushed_at or v.created or "", v.tag), reverse=True)
        return ImageView(image, repository.provider, repository.name, tuple(views))

    def tag_view(
        self, api: RegistryAPI, repository: Repository, image: str, tag: str, digest: str
    ) -> TagView:
        name = split(image)[1]
        manifest = api.get_manifest(name, digest)
        size, platforms, created = _describe(api, name, manifest) if manifest else (0, (), None)
        build_id = tag_owner(self.context.redis, image, tag, digest)
        record = self.context.store.get(build_id) if build_id else None
        return TagView(
            tag=tag,
            digest=digest,
            size=size,
            platforms=platforms,
            created=created,
            pushed_at=_iso(record.finished_at) if record else None,
            origin="autobuild" if build_id else "elsewhere",
            signed=api.manifest_digest(name, cosign_tag(digest, "sig")) is not None,
            provenance=api.manifest_digest(name, cosign_tag(digest, "att")) is not None,
            build=build_link(repository, record) if record else None,
        )

    def registries(self, repositories: list[Repository]) -> list[RegistryView]:
        """Each registry the repositories push to, with the repositories in its catalog that
        none of them is (pushed from elsewhere, or by another Autobuild)."""
        known: dict[str, set[str]] = {}
        for repository in repositories:
            for image in repository.images:
                host, name = split(image)
                known.setdefault(host, set()).add(name)
        views = []
        for host, names in sorted(known.items()):
            try:
                with self.api(host) as api:
                    catalog = api.catalog(MAX_CATALOG)
            except RegistryAPIError as exc:
                views.append(RegistryView(host, (), error=str(exc)))
                continue
            if catalog is None:
                views.append(RegistryView(host, (), catalog_hidden=True))
                continue
            views.append(RegistryView(host, tuple(n for n in catalog if n not in names)))
        return views

    def latest_build(self, repository: Repository) -> tuple[BuildRecord, str] | None:
        """The newest successful build whose Dockerfile is known, and that Dockerfile."""
        for record in self.context.store.recent(
            provider=repository.provider,
            repository=repository.name,
            statuses={BuildStatus.SUCCESS},
            limit=20,
        ):
            attestation = self.trust.attestation(record.id)
            if attestation is not None and attestation.dockerfile:
                return record, attestation.dockerfile
        return None

    def history(self, image: str, digest: str) -> list[HistoryStep]:
        """``docker image history`` from the config blob (the first platform of an index)."""
        host, name = split(image)
        with self.api(host) as api:
            manifest = api.get_manifest(name, digest)
            if manifest is not None and manifest.is_index:
                first: Any = next(iter(manifest.json().get("manifests") or ()), {})
                manifest = api.get_manifest(name, str(first.get("digest", "")))
            if manifest is None:
                return []
            config = image_config(api, name, manifest)
            layers = [int(x.get("size", 0)) for x in manifest.json().get("layers") or ()]
        steps = []
        for entry in config.get("history") or ():
            if not isinstance(entry, dict):
                continue
            size = None if entry.get("empty_layer") else (layers.pop(0) if layers else 0)
            command = _NOP.sub("", str(entry.get("created_by", "")))
            steps.append(HistoryStep(entry.get("created"), command, size))
        return list(reversed(steps))
