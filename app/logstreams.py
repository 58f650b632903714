"""Live log streams (Server-Sent Events and ``?follow=1``), bounded so they never starve the web.

A stream holds one of the web process's threads for as long as it is open, and webhooks are
answered by the same threads. So streams are limited three ways:

- at most ``AUTOBUILD_STREAM_LIMIT`` open at once per web process, and at most
  ``AUTOBUILD_STREAM_CLIENT_LIMIT`` per client address: past either, 503 with ``Retry-After``
  (``autobuild web`` runs gunicorn with that many threads plus 16, so some are always free);
- each stream ends after ``AUTOBUILD_STREAM_SECONDS`` (about a minute). An event stream then
  sends a ``reconnect`` event and closes: ``EventSource`` reconnects by itself with
  ``Last-Event-ID``, ``autobuild logs -f`` with ``?after=``, and the stream resumes after the last
  line sent, so no line is lost or repeated. A ``?follow=1`` text stream ends with a line saying
  how to resume (``?follow=1&after=ID``).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
from flask import Response, current_app, request, stream_with_context

from app.context import AppContext, app_context
from app.errors import ApiError
from core.build import BuildRecord
from core.logs import LogLine, follow_build
from core.redis_url import connect
from core.store import BuildStore

EXTENSION_KEY = "autobuild.logstreams"
_ENTRY_ID = re.compile(r"0|[0-9]{1,20}-[0-9]{1,20}")  # a Redis stream entry id: where to resume


class StreamSlot:
    """One open stream's place; :meth:`release` gives it back (once, however often called)."""

    def __init__(self, limiter: StreamLimiter, client: str) -> None:
        self._limiter = limiter
        self._client = client
        self._released = False

    def release(self) -> None:
        self._limiter.release(self)


@dataclass
class StreamLimiter:
    """Counts the open streams of this process, in all and per client."""

    total: int
    per_client: int
    open: int = 0
    clients: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, client: str) -> StreamSlot | None:
        """A place for one more stream of ``client``, or None when either limit is reached."""
        with self.lock:
            if self.open >= self.total or self.clients[client] >= self.per_client:
                return None
            self.open += 1
            self.clients[client] += 1
            return StreamSlot(self, client)

    def release(self, slot: StreamSlot) -> None:
        with self.lock:
            if slot._released:
                return
            slot._released = True
            self.open -= 1
            self.clients[slot._client] -= 1
            if self.clients[slot._client] <= 0:
                del self.clients[slot._client]


@dataclass(frozen=True)
class StreamResources:
    """One app's (so one web process's) streams: their limiter, and a Redis connection pool of
    their own, as large as the limit: a stream blocks a pooled connection in ``XREAD`` for as
    long as it is open, so sharing the app's pool would let streams starve webhooks of Redis."""

    limiter: StreamLimiter
    redis: redis.Redis
    store: BuildStore


_CREATING = threading.Lock()


def resources(context: AppContext) -> StreamResources:
    extensions = current_app.extensions
    with _CREATING:
        if EXTENSION_KEY not in extensions:
            settings = context.settings
            connection = connect(
                settings.redis_url,
                max_connections=max(settings.stream_limit, 1),
                socket_timeout=10,  # well above a blocking read (1 s)
                socket_connect_timeout=2,
                health_check_interval=30,
            )
            extensions[EXTENSION_KEY] = StreamResources(
                StreamLimiter(settings.stream_limit, settings.stream_client_limit),
                connection,
                BuildStore(connection),
            )
        found: StreamResources = extensions[EXTENSION_KEY]
    return found


def stream_response(build_id: str, *, events: bool) -> Response:
    """The build's log, followed: Server-Sent Events when ``events``, else text. 503 with
    ``Retry-After`` when this process or this client already has its streams open."""
    context = app_context()
    after = request.args.get("after") or "0"
    if events:
        after = request.headers.get("Last-Event-ID") or after
    if not _ENTRY_ID.fullmatch(after):
        raise ApiError(400, f"{after[:40]!r} is not a log line id to resume after (like 1-0).")
    client = request.remote_addr or "-"
    streams = resources(context)
    slot = streams.limiter.acquire(client)
    if slot is None:
        retry = math.ceil(min(context.settings.stream_seconds, 30.0))
        raise ApiError(
            503,
            "Too many log streams are open (from this address, or on this server); "
            f"try again in {retry} s, or read the log without following it.",
            {"Retry-After": str(retry)},
        )
    after = request.args.get("after") or "0"
    if events:
        after = request.headers.get("Last-Event-ID") or after
        body = _event_stream(context, streams, build_id, after)
        mimetype = "text/event-stream"
    else:
        body = _text_stream(context, streams, build_id, after)
        mimetype = "text/plain"
    response = Response(
        stream_with_context(_holding(slot, body)),
        mimetype=mimetype,
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
    )
    response.call_on_close(slot.release)
    return response


def _holding(slot: StreamSlot, body: Iterator[str]) -> Iterator[str]:
    try:
        yield from body
    finally:
        slot.release()


@dataclass
class _Follow:
    """What a stream sent so far: the last line's id, and whether the build's log ended."""

    after: str
    ended: bool = False


def _follow(
    context: AppContext, streams: StreamResources, build_id: str, state: _Follow
) -> Iterator[LogLine | BuildRecord | None]:
    """:func:`core.logs.follow_build` for at most ``stream_seconds``: ``state.ended`` tells
    whether it stopped because the build ended and every line was sent."""
    lifetime = context.settings.stream_seconds
    started = time.monotonic()
    for item in follow_build(streams.redis, streams.store, build_id, state.after):
        yield item
        if isinstance(item, LogLine):
            state.after = item.id
        if time.monotonic() - started >= lifetime:
            return
    state.ended = True


def _event_stream(
    context: AppContext, streams: StreamResources, build_id: str, after: str
) -> Iterator[str]:
    """Server-Sent Events: a ``line`` event per log line, a ``build`` event (the build's JSON,
    with its phases and progress) whenever the record changed, before the lines it goes with;
    then ``end`` with the final status, or ``reconnect`` when the stream's time is up."""
    state = _Follow(after)
    sent = ""
    yield "retry: 1000\n\n"
    for item in _follow(context, streams, build_id, state):
        if item is None:
            yield ": keep-alive\n\n"
        elif isinstance(item, BuildRecord):
            payload = json.dumps(item.to_json())
            if payload != sent:
                sent = payload
                yield f"event: build\ndata: {payload}\n\n"
        else:
            line = {"text": item.text, "time": item.time.isoformat(), "phase": item.phase}
            payload = json.dumps({**line, "marker": item.marker})
            yield f"id: {item.id}\nevent: line\ndata: {payload}\n\n"
    if not state.ended:
        yield f"event: reconnect\ndata: {json.dumps({'after': state.after})}\n\n"
        return
    record = streams.store.get(build_id)
    status = record.status.value if record else "unknown"
    yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"


def _text_stream(
    context: AppContext, streams: StreamResources, build_id: str, after: str
) -> Iterator[str]:
    state = _Follow(after)
    for item in _follow(context, streams, build_id, state):
        if isinstance(item, LogLine):
            yield item.render() + "\n"
    if not state.ended:
        seconds = context.settings.stream_seconds
        yield (
            f"[autobuild] this stream ended after {seconds:g} s and the build is still running; "
            f"resume with ?follow=1&after={state.after}\n"
        )
