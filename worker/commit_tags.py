"""Tags that name ``{commit_date:FORMAT}``: finished by the worker once it has the commit.

The web plans tags when a push arrives, but only the clone knows the commit's committer date for
every trigger (a manual or scheduled build has no payload with timestamps), so the record keeps
such a tag as a template (``buildrules.render.render_tag``) and the clone phase fills it in.
Sanitised tags never hold a brace, so a tag with one is such a template.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from buildrules.tags import fallback_tag, sanitize_tag
from buildrules.templates import TemplateValues, parse_template
from worker.errors import UserBuildError

_PREVIEW_DATE = datetime(2000, 1, 1, tzinfo=UTC)


def is_deferred(tag: str) -> bool:
    return "{" in tag


def finish_tags(tags: Iterable[str], commit: str, committed_at: datetime) -> tuple[str, ...]:
    """``tags`` with every ``{commit_date:...}`` rendered (UTC) and sanitised; order kept."""
    values = TemplateValues("", commit, commit_date=committed_at)
    finished = (
        sanitize_tag(parse_template(tag).render(values), fallback=fallback_tag(commit))
        if is_deferred(tag)
        else tag
        for tag in tags
    )
    return tuple(dict.fromkeys(finished))


def preview_tags(tags: Iterable[str], commit: str) -> tuple[str, ...]:
    """The tags as they will look (any date), for checks made before the clone."""
    return finish_tags(tags, commit, _PREVIEW_DATE)


def commit_date_tags(
    tags: tuple[str, ...], commit: str, committed_at: datetime | None
) -> tuple[str, ...] | None:
    """The finished tags, or None when none waited for the commit date."""
    if not any(is_deferred(tag) for tag in tags):
        return None
    if committed_at is None:
        raise UserBuildError(
            "A tag uses {commit_date}, but the commit's date could not be read "
            "(a SHA-256 repository or an unreadable commit)"
        )
    return finish_tags(tags, commit, committed_at)
