"""POST /api/v1/repositories/<provider>/<name>/trigger: Docker Hub's remote trigger, kept."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.auth import require_trigger_token
from app.context import app_context
from app.errors import ApiError
from app.private_answers import unknown_trigger_repository
from app.replicated import require_replicated
from core.build import Trigger
from core.control import QueueFullError
from core.deploykey import DeployKeyError, read_deploy_key
from core.dispatch import dispatch
from core.masking import masker_for
from core.remote import RemoteError, list_remote_refs
from core.trigger import TriggerError, parse_trigger_body, plans_for_trigger

blueprint = Blueprint("trigger", __name__, url_prefix="/api/v1")


@blueprint.post("/repositories/<provider>/<path:name>/trigger")
def trigger(provider: str, name: str) -> Response:
    context = app_context()
    repository = context.config.find_repository(provider, name)
    if repository is None:
        raise unknown_trigger_repository(context, provider, name)
    require_trigger_token(context, repository)
    body = request.get_json(silent=True) if request.get_data() else None
    if request.get_data() and body is None:
        raise ApiError(400, "The trigger body is not valid JSON.")
    try:
        wanted = parse_trigger_body(body)
        masker = masker_for(context.settings, context.config)
        key = read_deploy_key(
            context.settings.environ, repository.ssh_key_env, context.settings.ssh_known_hosts
        )
        remote = list_remote_refs(repository.clone_url, masker, context.settings.environ, key)
        plans = plans_for_trigger(repository, wanted, remote)
        result = dispatch(
            context.store, context.queue, repository, plans,
            trigger=Trigger.MANUAL, delivery_id=None,
            max_queued=context.settings.max_queued_builds,
            max_queued_per_repository=context.settings.max_queued_per_repository,
        )  # fmt: skip
    except TriggerError as refused:
        raise ApiError(refused.status, str(refused)) from refused
    except (RemoteError, DeployKeyError) as unreachable:
        raise ApiError(502, str(unreachable)) from unreachable
    except QueueFullError as full:
        raise ApiError(429, str(full), {"Retry-After": "60"}) from full
    require_replicated(context, "a new trigger queues them again.")
    response = jsonify({"builds": [record.to_json() for record in result.builds]})
    response.status_code = 202
    return response
