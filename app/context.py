"""What a request needs: settings, the loaded configuration, Redis, the build store and queue."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from flask import current_app
from rq import Queue

from buildrules.model import Config
from core.queue import build_queue
from core.redis_url import connect
from core.replication import ReplicaCount
from core.settings import Settings
from core.store import BuildStore

EXTENSION_KEY = "autobuild"


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    config: Config
    redis: redis.Redis
    store: BuildStore
    queue: Queue
    replicas: ReplicaCount = field(default_factory=ReplicaCount)  # the master's, read now and then

    @classmethod
    def create(cls, settings: Settings, config: Config) -> AppContext:
        connection = connect(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        return cls(
            settings=settings,
            config=config,
            redis=connection,
            store=BuildStore(connection),
            queue=build_queue(connection, settings.queue_name),
        )


def app_context() -> AppContext:
    context: AppContext = current_app.extensions[EXTENSION_KEY]
    return context
