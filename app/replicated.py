"""A 202 (or "already received") is answered only once a replica has the builds, when the master
has replicas: else 503, and the git host's redelivery is answered with the same builds."""

from __future__ import annotations

from app.context import AppContext
from app.errors import ApiError
from core.replication import ReplicationTimeoutError, confirm_replicated

RETRY_AFTER_SECONDS = "10"


def require_replicated(context: AppContext, again: str) -> None:
    """Raise a 503 ApiError when no replica confirmed the writes within AUTOBUILD_REDIS_WAIT_MS;
    ``again`` says what sending the request again does."""
    try:
        confirm_replicated(context.redis, context.replicas, context.settings.redis_wait_ms)
    except ReplicationTimeoutError as unconfirmed:
        raise ApiError(
            503,
            f"The builds are recorded, but {unconfirmed}, so they could still be lost "
            f"with the Redis master; {again}",
            {"Retry-After": RETRY_AFTER_SECONDS},
        ) from unconfirmed
