"""What ``/readyz`` asks of the dependencies beyond Redis and Docker: the registries the
configuration pushes to, and the workers listening on the build queue.

Neither decides readiness (the web process accepts webhooks and queues builds without them), but
each is reported, so an operator sees at once why builds would wait or fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import redis
import requests
from rq import Queue, Worker

from buildrules.model import Config
from core.registry_address import registry_base_url, registry_host_of

REGISTRY_TIMEOUT_SECONDS = 2.0


def registry_hosts(config: Config) -> list[str]:
    """Every registry host the configuration pushes to or has credentials for, in order."""
    hosts: list[str] = []
    for repository in config.repositories:
        for image in repository.images:
            hosts.append(registry_host_of(image))
    hosts += [registry.host for registry in config.registries]
    return list(dict.fromkeys(hosts))


def registry_url(host: str, insecure_registries: frozenset[str] = frozenset()) -> str:
    """The ``/v2/`` endpoint of a registry, spoken to as the worker and Docker do."""
    return registry_base_url(host, insecure_registries) + "/v2/"


def check_registry(
    host: str,
    timeout: float = REGISTRY_TIMEOUT_SECONDS,
    insecure_registries: frozenset[str] = frozenset(),
) -> str:
    """``ok`` when ``GET /v2/`` answers like a registry (200, or 401 asking for credentials);
    otherwise a short sentence."""
    url = registry_url(host, insecure_registries)
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return f"unreachable ({type(exc).__name__})"
    if response.status_code in (200, 401):
        return "ok"
    return f"answered {response.status_code} to GET {url}"


def check_registries(
    hosts: Iterable[str],
    timeout: float = REGISTRY_TIMEOUT_SECONDS,
    insecure_registries: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """:func:`check_registry` for every host, at the same time (one slow host costs ``timeout``)."""
    hosts = list(hosts)
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(hosts), 8)) as pool:
        results = list(
            pool.map(lambda host: check_registry(host, timeout, insecure_registries), hosts)
        )
    return dict(zip(hosts, results, strict=True))


def check_workers(connection: redis.Redis, queue: Queue) -> tuple[int, str]:
    """The number of rq workers on the build queue, and a sentence for ``/readyz``."""
    count = Worker.count(connection=connection, queue=queue)
    if count == 0:
        return 0, f"no worker is listening on queue {queue.name!r}; builds will wait"
    return count, f"ok ({count} worker{'s' if count != 1 else ''})"
