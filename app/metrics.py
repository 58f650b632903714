"""``GET /metrics``: Prometheus text exposition (format 0.0.4), written by hand from Redis.

The web runs as several gunicorn processes and builds run in rq work horses, so nothing is counted
in process memory: counters and histograms live in Redis (:mod:`core.metrics`), gauges are read
from the build store and rq when scraped. Labels never carry repository names or anything from a
request other than a known provider, so the page is safe to leave open to the monitoring network.

Also here: every answer of ``POST /webhooks/<provider>`` is counted by provider and outcome, and
logged as one structured line with the delivery id and the ids of the builds it queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import redis
from flask import Blueprint, Response, g, request
from rq import Worker

from app.context import app_context
from app.hosts import HOSTS
from core.build import RUNNING_STATUSES, TERMINAL_STATUSES, BuildStatus
from core.metrics import Histogram, count_webhook, read_snapshot, webhook_outcome
from core.notifications import read_counts

blueprint = Blueprint("metrics", __name__)
logger = logging.getLogger(__name__)

QUEUED = webhook_outcome(202)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEBHOOK_ENDPOINT = "webhooks.receive"


# --- exposition --------------------------------------------------------------------------------


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Exposition:
    """Collects metric families and renders them in the Prometheus text format."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        rendered = ""
        if labels:
            inner = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
            rendered = "{" + inner + "}"
        self.lines.append(f"{name}{rendered} {_number(value)}")

    def histogram(self, name: str, histogram: Histogram, labels: Mapping[str, str]) -> None:
        running = 0
        for bound, count in zip((*histogram.buckets, float("inf")), histogram.counts, strict=True):
            running += count
            self.sample(f"{name}_bucket", running, {**labels, "le": _number(bound)})
        self.sample(f"{name}_sum", histogram.total, labels)
        self.sample(f"{name}_count", histogram.count, labels)

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _ordered(statuses: Iterable[BuildStatus]) -> list[BuildStatus]:
    return [status for status in BuildStatus if status in set(statuses)]


def render_metrics() -> str:
    context = app_context()
    snapshot = read_snapshot(context.redis)
    out = Exposition()

    active = context.store.active()
    out.family("autobuild_builds", "gauge", "Builds not yet ended, by status.")
    for status in [BuildStatus.QUEUED, *_ordered(RUNNING_STATUSES)]:
        count = sum(1 for record in active if record.status is status)
        out.sample("autobuild_builds", count, {"status": status.value})

    out.family(
        "autobuild_builds_finished_total", "counter", "Builds that ended, by terminal status."
    )
    for status in _ordered(TERMINAL_STATUSES):
        value = snapshot.builds_finished.get(status.value, 0)
        out.sample("autobuild_builds_finished_total", value, {"status": status.value})

    out.family(
        "autobuild_build_duration_seconds",
        "histogram",
        "Time from a worker picking a build up to its end, by terminal status.",
    )
    for name, histogram in sorted(snapshot.build_durations.items()):
        out.histogram("autobuild_build_duration_seconds", histogram, {"status": name})

    out.family(
        "autobuild_queue_duration_seconds",
        "histogram",
        "Time builds waited in the queue before a worker picked them up.",
    )
    out.histogram("autobuild_queue_duration_seconds", snapshot.queue_duration, {})

    out.family("autobuild_queue_depth", "gauge", "Jobs waiting in the rq build queue.")
    out.sample("autobuild_queue_depth", context.queue.count)
    out.family("autobuild_workers", "gauge", "rq workers listening on the build queue.")
    out.sample("autobuild_workers", Worker.count(connection=context.redis, queue=context.queue))

    out.family(
        "autobuild_webhook_deliveries_total",
        "counter",
        "Webhook deliveries answered, by provider and outcome.",
    )
    for (provider, outcome), value in sorted(snapshot.webhooks.items()):
        out.sample(
            "autobuild_webhook_deliveries_total", value, {"provider": provider, "outcome": outcome}
        )

    out.family(
        "autobuild_notifications_total",
        "counter",
        "Notification attempts by kind (status, webhook, apprise) and outcome"
        " (delivered, failed, gave_up).",
    )
    for (kind, outcome), value in sorted(read_counts(context.redis).items()):
        out.sample("autobuild_notifications_total", value, {"kind": kind, "outcome": outcome})

    docker = snapshot.docker
    if "total_bytes" in docker:
        out.family(
            "autobuild_docker_data_used_bytes",
            "gauge",
            "Used bytes on the file system of the Docker data directory, as a worker last saw it.",
        )
        out.sample("autobuild_docker_data_used_bytes", docker.get("used_bytes", 0))
        out.family(
            "autobuild_docker_data_size_bytes",
            "gauge",
            "Size of the file system of the Docker data directory.",
        )
        out.sample("autobuild_docker_data_size_bytes", docker["total_bytes"])
    out.family(
        "autobuild_docker_prunes_total",
        "counter",
        "Prunes of dangling images and build cache done by the workers.",
    )
    out.sample("autobuild_docker_prunes_total", docker.get("prunes", 0))
    out.family(
        "autobuild_docker_prune_reclaimed_bytes_total", "counter", "Bytes those prunes reclaimed."
    )
    out.sample("autobuild_docker_prune_reclaimed_bytes_total", docker.get("reclaimed_bytes", 0))
    return out.render()


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(render_metrics(), mimetype=None, content_type=CONTENT_TYPE)


# --- webhook deliveries --------------------------------------------------------------------------


def _delivery_id(provider: str) -> str | None:
    """The delivery id header the host sends (for the log line only; the host module checks it)."""
    names: tuple[str, ...] = getattr(HOSTS.get(provider), "DELIVERY_HEADERS", ())
    for name in names:
        value = request.headers.get(name)
        if value:
            return value[:200]
    return None


def note_delivery(build_ids: list[str] | None = None, *, counted: str | None = None) -> None:
    """For :func:`count_webhook_delivery`: the builds the answer names (its log line needs no
    re-reading of the body) and the outcome the delivery was already counted as, in the
    transaction that queued its builds (a round trip less than counting it afterwards)."""
    if build_ids is not None:
        g.webhook_build_ids = build_ids
    g.webhook_counted = counted


@blueprint.after_app_request
def count_webhook_delivery(response: Response) -> Response:
    """Count (and log) every answer of the webhook endpoint; never fails the answer itself."""
    if request.endpoint != WEBHOOK_ENDPOINT:
        return response
    raw_provider = (request.view_args or {}).get("provider", "")
    provider = raw_provider if raw_provider in HOSTS else "unknown"
    outcome = webhook_outcome(response.status_code)
    build_ids: list[str] = []
    if response.status_code in (200, 202):
        noted = g.get("webhook_build_ids")
        if noted is not None:
            build_ids = noted
        elif response.is_json:
            payload = response.get_json(silent=True) or {}
            builds = payload.get("builds") if isinstance(payload, dict) else None
            build_ids = [b["id"] for b in builds or [] if isinstance(b, dict) and "id" in b]
    counted = g.get("webhook_counted")
    if counted != outcome:
        try:
            if counted is None:
                count_webhook(app_context().redis, provider, outcome)
            else:  # counted with the builds, but the answer says otherwise (an error after)
                pipe = app_context().redis.pipeline(transaction=True)
                count_webhook(pipe, provider, counted, -1)
                count_webhook(pipe, provider, outcome)
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning(
                "webhook delivery not counted: Redis unreachable (%s)", type(exc).__name__
            )
    logger.info(
        "webhook delivery answered",
        extra={
            "event": "webhook",
            "provider": provider,
            "outcome": outcome,
            "status": response.status_code,
            "delivery_id": _delivery_id(provider),
            "build_id": ",".join(build_ids) or None,
        },
    )
    return response
