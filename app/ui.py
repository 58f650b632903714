"""The web UI: server-rendered pages that a little plain JavaScript keeps live.

Pages: the builds dashboard (``/``), a build (``/builds/<id>``), the repositories and one
repository (``/repositories/<provider>/<name>``), and the admin login. The pages read the same
records the JSON API serves; the scripts in ``static/`` poll ``/api/v1/builds`` and follow
``/api/v1/builds/<id>/logs`` as Server-Sent Events. Buttons call the JSON API with the login
cookie and the ``X-Requested-With`` header (see ``app.auth``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.auth import (
    admin_login_enabled,
    log_in,
    log_out,
    same_origin,
    session_is_admin,
)
from app.context import AppContext, app_context
from app.filters import UnknownStatusError, parse_statuses
from app.logpages import PAGE_LINES
from app.needsview import needs_rows, waiting_reason_of
from app.phaseview import phases_for
from app.schedules import next_firings
from buildrules.model import PROVIDERS, BuildRule, Repository
from core.build import BuildRecord, BuildStatus, utcnow
from core.logs import read_page
from core.masking import Masker
from core.notifications import read_answers

blueprint = Blueprint("ui", __name__)

DASHBOARD_LIMIT = 50
REPOSITORY_BUILDS = 100  # recent builds of a repository looked at for the per-rule lists
BUILDS_PER_RULE = 5
ACTIVE_FILTER = ",".join(
    s.value for s in (BuildStatus.QUEUED, BuildStatus.CLONING, BuildStatus.BUILDING,
                      BuildStatus.PUSHING)
)  # fmt: skip

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True)
class HostHelp:
    """How to set up the webhook on a git host: where, which events, what content type."""

    title: str
    where: str
    content_type: str
    secret_field: str
    events: str


HOST_HELP = {
    "github": HostHelp(
        "GitHub", "Repository → Settings → Webhooks → Add webhook",
        "application/json (application/x-www-form-urlencoded is accepted too)",
        "Secret", "Just the push event",
    ),
    "gitlab": HostHelp(
        "GitLab", "Project → Settings → Webhooks → Add new webhook",
        "application/json (GitLab always sends JSON)",
        "Secret token", "Push events and Tag push events",
    ),
    "bitbucket": HostHelp(
        "Bitbucket Cloud / Server", "Repository settings → Webhooks → Add webhook",
        "application/json (Bitbucket always sends JSON)",
        "Secret", "Repository → Push",
    ),
    "gitea": HostHelp(
        "Gitea / Forgejo / Gogs", "Repository → Settings → Webhooks → Add webhook → Gitea",
        "application/json (POST)", "Secret", "Push events",
    ),
    "git": HostHelp(
        "a plain git server", "the server's hooks/post-receive: `autobuild git-hook`",
        "application/json (sent by `autobuild git-hook`)",
        "AUTOBUILD_HOOK_SECRET in the hook's environment", "every push",
    ),
}  # fmt: skip


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@blueprint.app_context_processor
def _template_globals() -> dict[str, object]:
    context = app_context()
    return {
        "is_admin": session_is_admin(context),
        "login_enabled": admin_login_enabled(context),
        "private": context.settings.private,
    }


# --- formatting --------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else ""


def clock(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def seconds_text(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def duration(record: BuildRecord) -> str:
    """How long the build ran (so far), or empty while it waits."""
    if record.started_at is None:
        return ""
    end = record.finished_at or utcnow()
    return seconds_text((end - record.started_at).total_seconds())


def pull_command(record: BuildRecord) -> str | None:
    return f"docker pull {record.image}@{record.digest}" if record.digest else None


def display_url(url: str) -> str:
    """A URL with any credentials in it masked."""
    return Masker().mask(url)


blueprint.add_app_template_filter(iso, "iso")
blueprint.add_app_template_filter(clock, "clock")


blueprint.add_app_template_filter(duration, "duration")


# --- filters -----------------------------------------------------------------------------------


def split_repository(value: str) -> tuple[str | None, str | None]:
    """``provider/name`` (the provider is one of the known ones) or a bare ``name``."""
    value = value.strip()
    if not value:
        return None, None
    first, _, rest = value.partition("/")
    if first in PROVIDERS and rest:
        return first, rest
    return None, value


# --- pages -------------------------------------------------------------------------------------


def _not_found(message: str) -> tuple[str, int]:
    return render_template("message.html", title="Not found", message=message), 404


def _repository_options(context: AppContext, current: str) -> list[str]:
    """``provider/name`` of every configured repository, and the current filter if it is not."""
    options = [f"{r.provider}/{r.name}" for r in context.config.repositories]
    if current and current not in options:
        options.append(current)
    return options


@blueprint.get("/")
def dashboard() -> str | tuple[str, int]:
    context = app_context()
    repository_filter = request.args.get("repository", "").strip()
    try:
        statuses = parse_statuses(request.args.get("status"))
    except UnknownStatusError as unknown:
        return render_template("message.html", title="Bad filter", message=str(unknown)), 400
    provider, name = split_repository(repository_filter)
    builds = context.store.recent(
        provider=provider, repository=name, statuses=statuses or None, limit=DASHBOARD_LIMIT
    )
    return render_template(
        "dashboard.html",
        builds=builds,
        repository_options=_repository_options(context, repository_filter),
        repository_filter=repository_filter,
        status_filter=",".join(s.value for s in statuses),
        statuses=[s.value for s in BuildStatus],
        active_filter=ACTIVE_FILTER,
        api_provider=provider or "",
        api_repository=name or "",
        limit=DASHBOARD_LIMIT,
        needs_rows=needs_rows(context),  # app/needsview.py
    )


@blueprint.get("/builds/<build_id>")
def build_page(build_id: str) -> str | tuple[str, int]:
    context = app_context()
    record = context.store.get(build_id) if len(build_id) <= 64 else None
    if record is None:
        return _not_found(f"There is no build {build_id!r}.")
    lines, earlier = read_page(context.redis, record.id, count=PAGE_LINES)
    repository = context.config.find_repository(record.provider, record.repository)
    return render_template(
        "build.html",
        build=record,
        lines=lines,
        earlier=earlier,  # the page shows the last lines; the button loads earlier ones
        last_line_id=lines[-1].id if lines else "0",
        phases=phases_for(record),
        pull_command=pull_command(record),
        repository=repository,
        notifications=read_answers(context.redis, record.id),
        waiting_reason=waiting_reason_of(context, record),  # app/needsview.py
    )


def _last_builds(context: AppContext) -> dict[tuple[str, str], BuildRecord]:
    last = {}
    for repository in context.config.repositories:
        found = context.store.recent(
            provider=repository.provider, repository=repository.name, limit=1
        )
        if found:
            last[repository.key] = found[0]
    return last


@blueprint.get("/repositories")
def repositories() -> str:
    context = app_context()
    return render_template(
        "repositories.html",
        repositories=context.config.repositories,
        last_builds=_last_builds(context),
    )


@dataclass(frozen=True)
class RuleView:
    index: int
    rule: BuildRule
    image: str
    builds: list[BuildRecord]
    literal: bool


def public_base_url(context: AppContext) -> str:
    """AUTOBUILD_PUBLIC_URL when set (behind a proxy), else the address this request came to."""
    return (context.settings.public_url or request.host_url).rstrip("/")


def rule_views(repository: Repository, builds: Sequence[BuildRecord]) -> list[RuleView]:
    views = []
    for index, rule in enumerate(repository.build_rules):
        mine = [b for b in builds if index in b.rule_indexes][:BUILDS_PER_RULE]
        literal = rule.pattern is None
        views.append(RuleView(index, rule, repository.image_for(rule), mine, literal))
    return views


@blueprint.get("/repositories/<provider>/<path:name>")
def repository_page(provider: str, name: str) -> str | tuple[str, int]:
    context = app_context()
    repository = context.config.find_repository(provider, name)
    if repository is None:
        return _not_found(f"Repository {provider}/{name} is not configured.")
    builds = context.store.recent(
        provider=repository.provider, repository=repository.name, limit=REPOSITORY_BUILDS
    )
    base = public_base_url(context)
    badge_path = url_for("badge.badge", provider=repository.provider, name=repository.name)
    literal_tags = sorted(
        {tag for rule in repository.build_rules for tag in rule.docker_tags if "{" not in tag}
    )
    return render_template(
        "repository.html",
        repository=repository,
        clone_url=display_url(repository.clone_url),
        rules=rule_views(repository, builds),
        builds=builds[:10],
        webhook_url=base  # the repository's own URL: its signature is checked before parsing
        + url_for("webhooks.receive_for", provider=repository.provider, name=repository.name),
        trigger_url=base
        + url_for("trigger.trigger", provider=repository.provider, name=repository.name),
        host=HOST_HELP.get(repository.provider),
        secret_is_set=context.settings.secret(repository.webhook_secret_env) is not None,
        trigger_token_is_set=context.settings.secret(repository.trigger_token_env) is not None,
        badge_url=base + badge_path,
        page_url=base + request.path,
        badge_tags=literal_tags,
        next_firings=next_firings(repository),
    )


# --- admin login -------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return url_for("ui.dashboard")
    return target


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | BaseResponse:
    context = app_context()
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    if not same_origin(request):
        return render_template("login.html", next=target, error="Cross-origin login refused."), 403
    if not admin_login_enabled(context):
        message = "Admin login is disabled: AUTOBUILD_ADMIN_TOKEN is not set on the server."
        return render_template("login.html", next=target, error=message), 403
    if not log_in(context, request.form.get("token", "").strip()):
        return render_template("login.html", next=target, error="That is not the admin token."), 401
    return redirect(target, code=303)


@blueprint.post("/logout")
def logout() -> BaseResponse:
    if same_origin(request):
        log_out()
    return redirect(url_for("ui.dashboard"), code=303)
