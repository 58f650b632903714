"""What every build of one worker process shares: settings, configuration, Redis, the store, the
masker and the Docker client factory (made once per worker by ``WorkerContext.create``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue

from buildrules.model import Config
from core.capabilities import Capabilities
from core.masking import Masker, masker_for
from core.queue import build_queue
from core.settings import Settings
from core.store import BuildStore
from core.workerid import WorkerIdentity
from worker.docker_client import DockerFactory, docker_factory
from worker.push import DEFAULT_PUSH_READ_TIMEOUT_SECONDS
from worker.redis_connection import worker_redis


@dataclass(frozen=True)
class WorkerContext:
    """Everything a build needs from its process: made once per worker, shared by its builds."""

    settings: Settings
    config: Config
    redis: Redis
    store: BuildStore
    masker: Masker
    docker: DockerFactory
    push_read_timeout: float = DEFAULT_PUSH_READ_TIMEOUT_SECONDS
    registry_timeout: float = 30.0
    git_config: tuple[tuple[str, str], ...] = field(default=())  # extra `git -c` pairs
    identity: WorkerIdentity | None = None  # host and daemon, written into each attempt
    capabilities: Capabilities | None = None  # the platforms and labels it offers

    @classmethod
    def create(
        cls,
        settings: Settings,
        config: Config,
        connection: Redis | None = None,
        **options: Any,
    ) -> WorkerContext:
        connection = connection or worker_redis(settings)
        return cls(
            settings=settings,
            config=config,
            redis=connection,
            store=BuildStore(connection),
            masker=masker_for(settings, config),
            docker=options.pop("docker", None) or docker_factory(settings.environ),
            **options,
        )

    @property
    def scratch_dir(self) -> Path:
        return self.settings.workdir / "contexts"

    def queue(self) -> Queue:
        """The queue retries go back to: this worker's."""
        return build_queue(self.redis, self.settings.queue_name)
