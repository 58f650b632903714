"""``GET /metrics``: the Prometheus exposition, by ``prometheus_client`` from what Redis holds.

The web runs as several gunicorn processes and builds run in rq work horses, so nothing is counted
in process memory: counters and histograms live in Redis (:mod:`core.metrics`), gauges are read
from the build store and rq when scraped. :class:`RedisCollector` reads them on every scrape and
yields metric families; ``prometheus_client`` writes the text (or OpenMetrics, when the scraper
asks for it). Labels never carry repository names or anything from a request other than a known
provider, so the page is safe to leave open to the monitoring network.

Also here: every answer of ``POST /webhooks/<provider>`` is counted by provider and outcome, and
logged as one structured line with the delivery id and the ids of the builds it queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

import redis
from flask import Blueprint, Response, g, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from rq import Worker

from app.context import AppContext, app_context
from app.hosts import HOSTS
from core.build import RUNNING_STATUSES, TERMINAL_STATUSES, BuildStatus
from core.metrics import Histogram, Snapshot, count_webhook, read_snapshot, webhook_outcome
from core.needsqueues import total_queued
from core.notifications import read_counts

blueprint = Blueprint("metrics", __name__)
logger = logging.getLogger(__name__)

WEBHOOK_ENDPOINT = "webhooks.receive"


# --- the collector -------------------------------------------------------------------------------


def _ordered(statuses: Iterable[BuildStatus]) -> list[BuildStatus]:
    return [status for status in BuildStatus if status in set(statuses)]


def _histogram(
    name: str, help_text: str, by_label: Sequence[tuple[Sequence[str], Histogram]], label: str = ""
) -> HistogramMetricFamily:
    """A histogram family from non-cumulative bucket counts (the last one +Inf)."""
    family = HistogramMetricFamily(name, help_text, labels=[label] if label else [])
    for values, histogram in by_label:
        cumulative, running = [], 0
        for bound, count in zip((*histogram.buckets, float("inf")), histogram.counts, strict=True):
            running += count
            le = floatToGoString(bound)  # type: ignore[no-untyped-call]  # "5.0", "+Inf"
            cumulative.append((le, float(running)))
        family.add_metric(list(values), cumulative, sum_value=histogram.total)
    return family


def build_families(
    snapshot: Snapshot,
    active: Sequence[BuildStatus],
    queue_depth: int,
    workers: int,
    notifications: Mapping[tuple[str, str], int] | None = None,
) -> Iterator[Metric]:
    """Every metric family, from what was read (``active``: the status of each build not ended;
    ``notifications``: attempts by (kind, outcome))."""
    builds = GaugeMetricFamily(
        "autobuild_builds", "Builds not yet ended, by status.", labels=["status"]
    )
    for status in [BuildStatus.QUEUED, *_ordered(RUNNING_STATUSES)]:
        builds.add_metric([status.value], sum(1 for s in active if s is status))
    yield builds
    finished = CounterMetricFamily(
        "autobuild_builds_finished",
        "Builds that ended, by terminal status.",
        labels=["status"],
    )
    for status in _ordered(TERMINAL_STATUSES):
        finished.add_metric([status.value], snapshot.builds_finished.get(status.value, 0))
    yield finished
    yield _histogram(
        "autobuild_build_duration_seconds",
        "Time from a worker picking a build up to its end, by terminal status.",
        [((name,), histogram) for name, histogram in sorted(snapshot.build_durations.items())],
        label="status",
    )
    yield _histogram(
        "autobuild_queue_duration_seconds",
        "Time builds waited in the queue before a worker picked them up.",
        [((), snapshot.queue_duration)],
    )
    yield GaugeMetricFamily(
        "autobuild_queue_depth",
        "Jobs waiting in the rq build queues (the queue and every needs queue).",
        value=queue_depth,
    )
    yield GaugeMetricFamily(
        "autobuild_workers", "rq workers listening on the build queue.", value=workers
    )
    deliveries = CounterMetricFamily(
        "autobuild_webhook_deliveries",
        "Webhook deliveries answered, by provider and outcome.",
        labels=["provider", "outcome"],
    )
    for (provider, outcome), value in sorted(snapshot.webhooks.items()):
        deliveries.add_metric([provider, outcome], value)
    yield deliveries
    sent = CounterMetricFamily(
        "autobuild_notifications",
        "Notification attempts by kind (status, webhook, apprise) and outcome"
        " (delivered, failed, gave_up).",
        labels=["kind", "outcome"],
    )
    for (kind, outcome), value in sorted((notifications or {}).items()):
        sent.add_metric([kind, outcome], value)
    yield sent
    yield from _docker_families(snapshot.docker)


def _docker_families(docker: dict[str, float]) -> Iterator[Metric]:
    if "total_bytes" in docker:
        yield GaugeMetricFamily(
            "autobuild_docker_data_used_bytes",
            "Used bytes on the file system of the Docker data directory, as a worker last saw it.",
            value=docker.get("used_bytes", 0),
        )
        yield GaugeMetricFamily(
            "autobuild_docker_data_size_bytes",
            "Size of the file system of the Docker data directory.",
            value=docker["total_bytes"],
        )
    yield CounterMetricFamily(
        "autobuild_docker_prunes",
        "Prunes of dangling images and build cache done by the workers.",
        value=docker.get("prunes", 0),
    )
    yield CounterMetricFamily(
        "autobuild_docker_prune_reclaimed_bytes",
        "Bytes those prunes reclaimed.",
        value=docker.get("reclaimed_bytes", 0),
    )


class RedisCollector(Collector):
    """Reads the numbers in Redis, the build store and rq on each scrape."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        context = self.context
        snapshot = read_snapshot(context.redis)
        active = [record.status for record in context.store.active()]
        workers = Worker.count(connection=context.redis, queue=context.queue)
        notifications = read_counts(context.redis)
        depth = total_queued(context.redis, context.queue.name)  # every needs queue too
        yield from build_families(snapshot, active, depth, workers, notifications)


def render_metrics(accept: str | None = None) -> tuple[bytes, str]:
    """The exposition and its content type (the text format unless ``accept`` asks for
    OpenMetrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(app_context()))
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type


@blueprint.get("/metrics")
def metrics() -> Response:
    body, content_type = render_metrics(request.headers.get("Accept"))
    return Response(body, mimetype=None, content_type=content_type)


# --- webhook deliveries --------------------------------------------------------------------------


def _delivery_id(provider: str) -> str | None:
    """The delivery id header the host sends (for the log line only; the host module checks it)."""
    names: tuple[str, ...] = getattr(HOSTS.get(provider), "DELIVERY_HEADERS", ())
    for name in names:
        value = request.headers.get(name)
        if value:
            return value[:200]
    return None


def note_delivery(build_ids: list[str]) -> None:
    """For :func:`count_webhook_delivery`'s log line: the builds the answer names (read from
    the answer otherwise)."""
    g.webhook_build_ids = build_ids


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
    try:
        count_webhook(app_context().redis, provider, outcome)
    except redis.RedisError as exc:
        logger.warning("webhook delivery not counted: Redis unreachable (%s)", type(exc).__name__)
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
