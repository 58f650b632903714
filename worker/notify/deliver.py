"""The rq job of the notify queue: send one build's events to one target, in order.

``deliver(build_id, target_key)`` holds a per-build, per-target lock, sends each outbox event
the target wants from where that target's cursor stands, and moves the cursor on only after the
target accepted it. A failure records the answer and raises: rq tries the job again after the
configured backoff, starting again at the event that failed, so later events never overtake it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from redis import Redis
from rq import get_current_job

from buildrules.loader import load
from buildrules.model import Config, NotifyTarget, Repository
from core.build import utcnow
from core.masking import Masker
from core.notifications import (
    ANSWERS_KEEP_SECONDS,
    KEEP_SECONDS,
    Answer,
    OutboxEvent,
    answers_key,
    count_outcome,
    cursor_key,
    lock_key,
    outbox_key,
    read_outbox,
)
from core.settings import Settings
from core.store import BuildStore
from worker.notify.payloads import (
    build_payload,
    chat_message,
    dockerhub_payloads,
    signature_headers,
)
from worker.notify.sender import Reply, post
from worker.notify.statuses import StatusConfigError, status_request
from worker.notify.targets import Target, targets_for
from worker.redis_connection import worker_redis

logger = logging.getLogger(__name__)

DELIVER = "worker.notify.deliver.deliver"  # by name, as rq stores it
LOCK_SECONDS = 300
JSON_HEADERS = {"Content-Type": "application/json", "User-Agent": "Autobuild"}
# Deletes the lock only if it is still ours. KEYS[1]: the lock; ARGV[1]: our token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class DeliveryError(RuntimeError):
    """A target did not accept an event; rq tries again after the backoff."""


@dataclass
class NotifyContext:
    """What the notify jobs share in one process."""

    settings: Settings
    config: Config
    redis: Redis
    masker: Masker
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def create(cls, settings: Settings, config: Config, connection: Redis) -> NotifyContext:
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials from the environment
        masker = Masker(settings.secret_values(config.secret_env_names()))
        return cls(settings, config, connection, masker, session)


_context: NotifyContext | None = None


def set_context(context: NotifyContext | None) -> None:
    global _context
    _context = context


def get_context() -> NotifyContext:
    global _context
    if _context is None:
        settings = Settings.from_env()
        connection = worker_redis(settings)
        _context = NotifyContext.create(settings, load(settings.config_path), connection)
    return _context


class TargetBusyError(RuntimeError):
    """Another job holds the target's lock. It sends what is left, including what came
    meanwhile; this job, tried again later, finds nothing left, or takes over once the lock of
    a job that died has expired."""


def deliver(build_id: str, target_key: str) -> str:
    """Send the build's events ``target_key`` has not had yet."""
    context = get_context()
    lock = lock_key(build_id, target_key)
    while True:
        token = uuid.uuid4().hex
        if not context.redis.set(lock, token, nx=True, ex=LOCK_SECONDS):
            raise TargetBusyError(f"another job is notifying {target_key} of build {build_id}")
        try:
            configured = _drain(context, build_id, target_key)
        finally:
            context.redis.eval(_RELEASE, 1, lock, token)
        if not configured:
            return "not configured"
        cursor = int(context.redis.hget(cursor_key(build_id), target_key) or 0)
        if cursor >= int(context.redis.llen(outbox_key(build_id))):
            return "done"


def _drain(context: NotifyContext, build_id: str, target_key: str) -> bool:
    """Send what is left; False when the build or target is gone (nothing is sent that is not
    in the configuration), else True once every event so far is done."""
    record = BuildStore(context.redis).get(build_id)
    if record is None:
        return False
    repository = context.config.find_repository(record.provider, record.repository)
    if repository is None:
        return False
    target = {t.key: t for t in targets_for(context.config, repository)}.get(target_key)
    if target is None:
        return False
    cursor = int(context.redis.hget(cursor_key(build_id), target_key) or 0)
    for event in read_outbox(context.redis, build_id, cursor):
        if target.wants(event.event, event.record):
            reply = send(context, repository, target, event)
            _record(context, build_id, target, event, reply)
            if not reply.ok:
                raise DeliveryError(f"{target.label} answered {reply.answer}")
        context.redis.hset(cursor_key(build_id), target_key, event.index + 1)
        context.redis.expire(cursor_key(build_id), KEEP_SECONDS)
    return True


def send(
    context: NotifyContext, repository: Repository, target: Target, event: OutboxEvent
) -> Reply:
    """Send one event to one target; the reply says how it went."""
    build_url = context.settings.build_url(event.record.id)
    if target.entry is None:
        return _send_status(context, repository, event, build_url)
    if target.entry.apprise_env:
        url = context.settings.secret(target.entry.apprise_env)
        return _send_apprise(url, target.entry.apprise_env, event, build_url)
    return _send_webhook(context, target.entry, event, build_url)


def _send_status(
    context: NotifyContext, repository: Repository, event: OutboxEvent, build_url: str
) -> Reply:
    token = context.settings.secret(repository.status_token_env)
    if token is None:
        return Reply(False, f"${repository.status_token_env} is not set")
    try:
        request = status_request(repository, event.record, token, build_url)
    except StatusConfigError as error:
        return Reply(False, str(error))
    body = json.dumps(request.body).encode()
    timeout = context.settings.notify_timeout_seconds
    return post(context.session, request.url, body, request.headers, timeout)


def _send_webhook(
    context: NotifyContext, entry: NotifyTarget, event: OutboxEvent, build_url: str
) -> Reply:
    assert entry.url, "a target without apprise_env has a url"
    settings = context.settings
    record = event.record
    timeout = settings.notify_timeout_seconds
    secret = settings.secret(entry.secret_env) if entry.secret_env else None
    if entry.secret_env and secret is None:
        return Reply(False, f"${entry.secret_env} is not set")
    if entry.format == "dockerhub":
        bodies = dockerhub_payloads(record, build_url)
    else:
        bodies = [build_payload(event.event, event.at, record, build_url)]
    reply = Reply(True, "nothing to send")
    for number, body in enumerate(bodies):
        headers = dict(JSON_HEADERS)
        if secret:
            message_id = f"msg_{record.id}_{event.index}" + (f"_{number}" if number else "")
            headers |= signature_headers(secret, message_id, body)
        reply = post(context.session, entry.url, body, headers, timeout)
        if not reply.ok:
            break
    return reply


def _send_apprise(url: str | None, env_name: str, event: OutboxEvent, build_url: str) -> Reply:
    if url is None:
        return Reply(False, f"${env_name} is not set")
    import apprise  # loads its plugins: only in the process that sends

    title, body = chat_message(event.event, event.record, build_url)
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return Reply(False, f"apprise does not understand the URL in ${env_name}")
    if notifier.notify(body=body, title=title):
        return Reply(True, "delivered by apprise")
    return Reply(False, "apprise could not deliver it")


def _record(
    context: NotifyContext, build_id: str, target: Target, event: OutboxEvent, reply: Reply
) -> None:
    """Keep the target's last answer for the build page and count the attempt."""
    key = answers_key(build_id)
    raw: Any = context.redis.hget(key, target.key)
    previous = Answer.loads(raw) if raw else None
    delivered = previous.delivered if previous else ()
    same_try = previous is not None and previous.event == event.event and not previous.ok
    attempts = previous.attempts + 1 if same_try and previous else 1
    job = get_current_job()
    last_try = not reply.ok and (job is None or not job.retries_left)
    outcome = "delivered" if reply.ok else ("gave_up" if last_try else "failed")
    answer = reply.answer + ("; given up" if last_try else "")
    stored = Answer(
        target=target.key,
        kind=target.kind,
        label=target.label,
        event=event.event,
        ok=reply.ok,
        answer=answer,
        attempts=attempts,
        at=utcnow().isoformat(),
        delivered=delivered + ((event.event,) if reply.ok else ()),
    )
    pipe = context.redis.pipeline(transaction=True)
    pipe.hset(key, target.key, stored.dumps())
    pipe.expire(key, ANSWERS_KEEP_SECONDS)
    count_outcome(pipe, target.kind, outcome)
    pipe.execute()
    logger.info(
        "notification %s to %s: %s",
        event.event,
        target.label,
        answer,
        extra={"event": "notify", "build_id": build_id, "outcome": outcome},
    )
