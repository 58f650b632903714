"""GET /badge/<provider>/<name>.svg: the status of a repository's latest build, as an SVG badge.

``?tag=latest`` gives the status of the latest build that carries that Docker tag. Canceled and
superseded builds say nothing about the code, so the badge looks past them. The answer is never
cached (``Cache-Control: no-cache``): READMEs on git hosts go through image proxies that honour it.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from flask import Blueprint, Response, request

from app.context import app_context
from core.build import BuildRecord, BuildStatus

blueprint = Blueprint("badge", __name__)

SEARCH_LIMIT = 200  # builds looked at for the latest one carrying a tag
MAX_TAG_LENGTH = 128

BADGE_TEXT: dict[BuildStatus, str] = {
    BuildStatus.QUEUED: "queued",
    BuildStatus.CLONING: "building",
    BuildStatus.BUILDING: "building",
    BuildStatus.PUSHING: "building",
    BuildStatus.SUCCESS: "passing",
    BuildStatus.FAILED: "failing",
    BuildStatus.ERROR: "error",
    BuildStatus.TIMED_OUT: "timed out",
    BuildStatus.CANCELED: "canceled",
    BuildStatus.SUPERSEDED: "superseded",
}
BADGE_COLORS: dict[BuildStatus, str] = {
    BuildStatus.QUEUED: "#9f9f9f",
    BuildStatus.CLONING: "#dfb317",
    BuildStatus.BUILDING: "#dfb317",
    BuildStatus.PUSHING: "#dfb317",
    BuildStatus.SUCCESS: "#44cc11",
    BuildStatus.FAILED: "#e05d44",
    BuildStatus.ERROR: "#e05d44",
    BuildStatus.TIMED_OUT: "#e05d44",
    BuildStatus.CANCELED: "#9f9f9f",
    BuildStatus.SUPERSEDED: "#9f9f9f",
}
UNKNOWN_COLOR = "#9f9f9f"
UNINFORMATIVE = frozenset({BuildStatus.CANCELED, BuildStatus.SUPERSEDED})

# Approximate advance widths of Verdana 11px (what the badge font falls back to), by character.
_NARROW = set("ijlI.,:;'!|()[] ft")
_WIDE = set("mwMW@%")


def text_width(text: str) -> int:
    """The width of ``text`` in pixels, approximately, for sizing the badge's halves."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.9
        elif char in _WIDE:
            width += 10.5
        elif char.isupper() or char.isdigit():
            width += 7.5
        else:
            width += 6.6
    return round(width)


def render_badge(label: str, message: str, color: str) -> str:
    """A flat two-part badge: ``label`` on grey, ``message`` on ``color``."""
    left = text_width(label) + 12
    right = text_width(message) + 12
    total = left + right
    label_x = left / 2
    message_x = left + right / 2
    label_text = escape(label)
    message_text = escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label_text}: {message_text}">'
        f"<title>{label_text}: {message_text}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{escape(color)}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{label_x:g}" y="15" fill="#010101" fill-opacity=".3">{label_text}</text>'
        f'<text x="{label_x:g}" y="14">{label_text}</text>'
        f'<text x="{message_x:g}" y="15" fill="#010101" fill-opacity=".3">{message_text}</text>'
        f'<text x="{message_x:g}" y="14">{message_text}</text></g></svg>'
    )


def latest_build(records: Iterable[BuildRecord], tag: str | None = None) -> BuildRecord | None:
    """The newest build (``records`` newest first) that says something about the code, and, with
    ``tag``, carries that Docker tag."""
    for record in records:
        if record.status in UNINFORMATIVE:
            continue
        if tag is not None and tag not in record.docker_tags:
            continue
        return record
    return None


def badge_for(record: BuildRecord | None, tag: str | None = None) -> str:
    label = f"build {tag}" if tag else "build"
    if record is None:
        return render_badge(label, "unknown", UNKNOWN_COLOR)
    return render_badge(label, BADGE_TEXT[record.status], BADGE_COLORS[record.status])


def _svg(body: str, status: int = 200) -> Response:
    return Response(
        body,
        status=status,
        mimetype="image/svg+xml",
        headers={
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Expires": "0",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


@blueprint.get("/badge/<provider>/<path:name>.svg")
def badge(provider: str, name: str) -> Response:
    context = app_context()
    repository = context.config.find_repository(provider, name)
    tag = (request.args.get("tag") or "").strip()[:MAX_TAG_LENGTH] or None
    if repository is None:
        return _svg(render_badge("build", "not configured", UNKNOWN_COLOR), 404)
    records = context.store.recent(
        provider=repository.provider, repository=repository.name, limit=SEARCH_LIMIT
    )
    return _svg(badge_for(latest_build(records, tag), tag))
