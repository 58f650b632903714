"""Trust in the web process: the Images pages, ``GET /api/v1/images`` and
``GET /api/v1/builds/<id>/provenance`` (see :mod:`app.images` and docs/trust.md)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from app.context import app_context
from app.errors import ApiError
from app.images import ImageCatalog, ImageView
from app.ui import _security_headers
from buildrules.model import Repository
from core.registry_api import RegistryAPIError
from core.trust_store import TrustStore

blueprint = Blueprint("trust", __name__)
blueprint.after_request(_security_headers)


def _repositories(selector: str | None = None) -> list[Repository]:
    repositories = list(app_context().config.repositories)
    if not selector:
        return repositories
    wanted = selector.lower()
    return [r for r in repositories if wanted in (r.name.lower(), f"{r.provider}/{r.name}".lower())]


def _repository(provider: str, name: str) -> Repository:
    repository = app_context().config.find_repository(provider, name)
    if repository is None:
        raise ApiError(404, f"There is no repository {provider}/{name}.")
    return repository


def _size(value: int) -> str:
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{value} B"


blueprint.add_app_template_filter(_size, "human_size")


@blueprint.get("/api/v1/images")
def list_images() -> Response:
    catalog = ImageCatalog(app_context())
    repositories = _repositories(request.args.get("repository"))
    images: list[ImageView] = []
    for repository in repositories:
        images.extend(catalog.images(repository))
    registries = catalog.registries(repositories)
    return jsonify(
        {
            "images": [image.to_json() for image in images],
            "registries": [registry.to_json() for registry in registries],
        }
    )


@blueprint.get("/api/v1/builds/<build_id>/provenance")
def provenance(build_id: str) -> Response:
    context = app_context()
    record = context.store.get(build_id) if len(build_id) <= 64 else None
    if record is None:
        raise ApiError(404, f"There is no build {build_id!r}.")
    attestation = TrustStore(context.redis).attestation(record.id)
    if attestation is None:
        raise ApiError(
            404, f"Build {record.id} has no provenance: only a successful push states one."
        )
    return jsonify(
        {
            "build_id": attestation.build_id,
            "image": attestation.image,
            "digests": list(attestation.digests),
            "signed": attestation.signed,
            "statement": attestation.statement,
        }
    )


@blueprint.get("/images")
def images_page() -> str:
    catalog = ImageCatalog(app_context())
    repositories = _repositories()
    images = [image for r in repositories for image in catalog.images(r)]
    deletions = catalog.trust.deletions(limit=20)
    return render_template(
        "images.html",
        images=images,
        registries=catalog.registries(repositories),
        deletions=deletions,
    )


@blueprint.get("/images/<provider>/<path:name>")
def image_page(provider: str, name: str) -> str:
    repository = _repository(provider, name)
    catalog = ImageCatalog(app_context())
    images = catalog.images(repository)
    latest = catalog.latest_build(repository)
    history = []
    if latest is not None and latest[0].digest:
        try:
            history = catalog.history(latest[0].image, latest[0].digest)
        except RegistryAPIError:  # the page still shows the rest
            history = []
    return render_template(
        "image.html", repository=repository, images=images, latest=latest, history=history
    )
