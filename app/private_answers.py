"""What a client without credentials learns in private mode (``AUTOBUILD_PRIVATE=1``): nothing
about which repositories are configured. A webhook for an unknown repository, one without a
secret, and one with a wrong signature all get the same 401; the trigger endpoint answers an
unknown repository like a known one with a wrong token (the admin token still learns 404). Public
mode keeps its explanatory answers (404 "not configured", the missing variable's name)."""

from __future__ import annotations

from app.auth import bearer_token, is_admin
from app.context import AppContext
from app.errors import ApiError

WEBHOOK_REFUSED = "The webhook could not be verified for this repository."


def hidden_in_private(context: AppContext, error: ApiError) -> ApiError:
    """A webhook refusal (unknown repository, no secret, bad signature) as the client sees it."""
    if context.settings.private:
        return ApiError(401, WEBHOOK_REFUSED)
    return error


def unknown_trigger_repository(context: AppContext, provider: str, name: str) -> ApiError:
    """The answer to a trigger of a repository that is not configured."""
    not_configured = ApiError(404, f"Repository {provider}/{name} is not configured.")
    if not context.settings.private:
        return not_configured
    token = bearer_token()
    if token is None:
        return ApiError(401, "Send `Authorization: Bearer <trigger token>`.")
    if is_admin(context, token):
        return not_configured
    return ApiError(401, f"The token is not valid for {provider}/{name}.")
