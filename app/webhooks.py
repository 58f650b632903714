"""POST /webhooks/<provider>: verify, parse, match, dispatch. No git, no Docker, no waiting."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, jsonify, request

from app.context import AppContext, app_context
from app.errors import ApiError
from app.hosts import get_host
from app.hosts.base import (
    HostModule,
    PayloadError,
    PingWithoutRepository,
    SignatureError,
)
from app.metrics import note_delivery
from app.private_answers import hidden_in_private
from app.replicated import require_replicated
from app.webhook_url import check_named_repository
from buildrules.matcher import match
from buildrules.model import BuildPlan, Repository
from core.build import Trigger
from core.control import QueueFullError
from core.dispatch import dispatch
from core.events import Delivery

blueprint = Blueprint("webhooks", __name__)


def _ignored(reason: str, status: int = 200, **extra: object) -> Response:
    response = jsonify({"ignored": reason, **extra})
    response.status_code = status
    return response


def _find_repository(
    context: AppContext, provider: str, host: HostModule, body: bytes, named: str | None
) -> Repository:
    # /webhooks/<provider>/<name>: the secret is known before anything is parsed
    name = named if named is not None else host.repository_name(request.headers, body)
    repository = context.config.find_repository(provider, name)
    if repository is None:
        raise hidden_in_private(
            context,
            ApiError(404, f"Repository {name!r} is not configured for provider {provider!r}."),
        )
    return repository


def _verify(context: AppContext, repository: Repository, host: HostModule, body: bytes) -> None:
    secret = context.settings.secret(repository.webhook_secret_env)
    if secret is None:
        variable = repository.webhook_secret_env
        hint = (
            f"set the environment variable {variable}"
            if variable
            else "add webhook_secret_env to its configuration and set that variable"
        )
        raise hidden_in_private(
            context,
            ApiError(
                401,
                f"Webhooks for {repository.name} are refused until a secret is configured: {hint}.",
            ),
        )
    host.verify(request.headers, body, secret)


def _plans(context: AppContext, delivery: Delivery) -> tuple[list[BuildPlan], list[str]]:
    plans: list[BuildPlan] = []
    reasons: list[str] = []
    for event in delivery.events:
        result = match(context.config, event)  # also honours skip markers, with a reason
        plans.extend(result.plans)
        if not result.plans and result.reason:
            reasons.append(result.reason)
    return plans, reasons


def _trigger(delivery: Delivery) -> Trigger:
    """``pull_request`` for a pull request event's builds, else ``webhook``."""
    if any(event.pull_request is not None for event in delivery.events):
        return Trigger.PULL_REQUEST
    return Trigger.WEBHOOK


@blueprint.post("/webhooks/<provider>")
def receive(provider: str) -> Response:
    return _receive(provider, None)


@blueprint.post("/webhooks/<provider>/<path:name>")
def receive_for(provider: str, name: str) -> Response:
    """The repository in the URL: its signature is checked before the body is parsed at all."""
    return _receive(provider, name)


def _receive(provider: str, named: str | None) -> Response:
    context = app_context()
    host = get_host(provider)
    if host is None:
        raise ApiError(404, f"There is no webhook endpoint for provider {provider!r}.")
    body = request.get_data(cache=False)
    try:
        repository = _find_repository(context, provider, host, body, named)
        _verify(context, repository, host, body)
        delivery = host.parse(request.headers, body)
        check_named_repository(repository, delivery, named)
    except PingWithoutRepository as ping:
        return _ignored(str(ping))
    except SignatureError as exc:
        raise hidden_in_private(context, ApiError(401, str(exc))) from exc
    except PayloadError as exc:
        raise ApiError(400, str(exc)) from exc
    if delivery.ignored:
        return _ignored(delivery.ignored)
    plans, reasons = _plans(context, delivery)
    if not plans:
        return _ignored("; ".join(reasons) or "no build rule matches this push")
    try:
        result = dispatch(
            context.store,
            context.queue,
            repository,
            plans,
            trigger=_trigger(delivery),
            delivery_id=delivery.delivery_id,
            max_queued=context.settings.max_queued_builds,
            body_digest=hashlib.sha256(body).hexdigest(),
            max_queued_per_repository=context.settings.max_queued_per_repository,
        )
    except QueueFullError as full:
        raise ApiError(429, str(full), {"Retry-After": "60"}) from full
    require_replicated(
        context, "send the same delivery again: it is answered with the same builds."
    )
    note_delivery([record.id for record in result.builds])
    builds = [record.to_json() for record in result.builds]
    if result.duplicate:
        return _ignored(
            f"delivery {delivery.delivery_id} (or one with the same body) was already received",
            builds=builds,
        )
    response = jsonify({"builds": builds})
    response.status_code = 202
    return response
