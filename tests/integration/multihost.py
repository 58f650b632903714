"""The multi-host harness: two or three "hosts" on one machine, the way separate build hosts look.

Each host is a network namespace with its own host name, its own dockerd (own data root, exec
root, socket, pid file; ``--bridge=none --iptables=false``) and its own ``autobuild worker`` with
``DOCKER_HOST`` on that daemon. Redis, the registry, the web process (``autobuild web``) and a git
daemon the workers clone from run in the root namespace on the test's bridge address, never on
loopback: the hosts reach them over their veth (:mod:`tests.integration.multihost_net`).

Use::

    with start_cluster(logs_dir, hosts=2) as cluster:
        repo, clone_url = cluster.git_repo("app", {"Dockerfile": cluster.dockerfile("RUN true")})
        cluster.configure([repository_entry("octo/app", clone_url, cluster.image("app"))])
        (build,) = cluster.push("octo/app", repo.head())
        done = cluster.wait_status(build["id"], {"success"}, 120)

Every process is ended by its PID and everything made on disk and in the network is removed when
the block ends, also when it fails. The fixture ``multihost`` (conftest.py) is one cluster per
test module.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import redis
import requests
import yaml

from core.logs import read_log
from tests.integration.control_helpers import ADMIN, BASE_ENV, FAST_CONTROL, SECRET, wait_for
from tests.integration.multihost_net import (
    HostNet,
    Network,
    claim_subnet,
    on_host,
)
from tests.integration.multihost_procs import (
    Proc,
    free_port,
    spawn,
    start_dockerd,
    start_git_daemon,
    start_redis,
    start_registry,
)
from tests.integration.services import (
    GitRepo,
    build_and_push_base_image,
    create_git_repo,
    manifest_digest,
)
from tests.integration.webhook_helpers import PROJECT_ROOT, github_push, sign

START_SECONDS = 90.0  # dockerd, web and workers answering


@dataclass
class Host:
    """A build host: its network place, its daemon and (once configured) its worker."""

    net: HostNet
    root: Path
    dockerd: Proc
    worker: Proc | None = None
    _api: docker.APIClient | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.net.hostname

    @property
    def docker_host(self) -> str:
        return f"unix://{self.root / 'd.sock'}"

    @property
    def api(self) -> docker.APIClient:
        """A low-level Docker client of this host's daemon (closed with the cluster)."""
        if self._api is None:
            self._api = docker.APIClient(base_url=self.docker_host, timeout=120)
        return self._api

    @property
    def daemon_id(self) -> str:
        return str(self.api.info()["ID"])

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None


@dataclass
class Cluster:
    """The running multi-host set-up (see the module docstring)."""

    network: Network
    root: Path
    logs: Path
    redis_url: str
    registry_port: int
    git_port: int
    hosts: list[Host]
    services: list[Proc]
    base_image: str = ""
    web: Proc | None = None
    web_port: int = 0
    environ: dict[str, str] = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)

    # -- addresses --------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """The test's own address on the bridge: every service listens here."""
        return self.network.subnet.gateway

    @property
    def registry(self) -> str:
        """The registry as everyone names it (image references use this): the bridge address,
        plain HTTP (``AUTOBUILD_INSECURE_REGISTRIES``, each dockerd's ``--insecure-registry``)."""
        return f"{self.address}:{self.registry_port}"

    @property
    def registry_address(self) -> str:
        """The registry as the test reaches it: the same bridge address as :attr:`registry`."""
        return self.registry

    @property
    def web_url(self) -> str:
        return f"http://{self.address}:{self.web_port}"

    def image(self, prefix: str) -> str:
        """A repository of the test's registry no other test uses."""
        return f"{self.registry}/autobuild-test/{prefix}-{uuid.uuid4().hex[:8]}"

    def registry_digest(self, image: str, tag: str) -> str | None:
        """The registry's own digest for ``image:tag`` (None: it does not have it)."""
        path = image.split("/", 1)[1]
        return manifest_digest(self.registry_address, path, tag)

    def dockerfile(self, *lines: str) -> str:
        return "\n".join([f"FROM {self.base_image}", *lines]) + "\n"

    def git_repo(self, name: str, files: Mapping[str, str | bytes]) -> tuple[GitRepo, str]:
        """A repository served by the test's git daemon; returns it and its ``git://`` clone
        URL (on the bridge address)."""
        repo = create_git_repo(self.root / "git" / name, files)
        return repo, f"git://{self.address}:{self.git_port}/{name}"

    def redis(self) -> redis.Redis:
        """A connection to the cluster's Redis (the caller closes it)."""
        return redis.Redis.from_url(self.redis_url)

    # -- configuration, web and workers -----------------------------------------------------------
    def configure(self, entries: Iterable[Mapping[str, Any]], **environ: str) -> None:
        """Write the shared configuration of ``entries`` and (re)start the web process and one
        worker per host on it; returns when each host's worker is listed idle."""
        self.stop_processes()
        config = self.root / "autobuild.yml"
        config.write_text(yaml.safe_dump({"repositories": [dict(e) for e in entries]}))
        self.environ = {
            **os.environ,
            **BASE_ENV,
            **FAST_CONTROL,
            "AUTOBUILD_CONFIG": str(config),
            "REDIS_URL": self.redis_url,
            "AUTOBUILD_QUEUE": f"multihost-{uuid.uuid4().hex[:8]}",  # a fresh worker list
            "AUTOBUILD_INSECURE_REGISTRIES": self.registry,  # plain HTTP on the bridge address
            **environ,
        }
        self.environ.pop("DOCKER_HOST", None)
        self.start_web()
        for host in self.hosts:
            self.start_worker(host)
        self.wait_idle(*self.hosts)

    def wait_idle(self, *hosts: Host) -> None:
        """Wait until the web process lists an idle worker on each of ``hosts``."""
        wanted = {host.name for host in hosts}
        wait_for(
            lambda: {w["host"] for w in self.workers() if w["state"] == "idle"} >= wanted,
            START_SECONDS,
            f"an idle worker on each of {sorted(wanted)}",
        )

    def start_web(self) -> None:
        self.web_port = free_port(self.address)
        argv = [sys.executable, "-m", "cli.main", "web", "--host", self.address]
        argv += ["--port", str(self.web_port), "--workers", "1"]
        self.web = spawn(
            "web", argv, self.logs, self._web_answers, env=self.environ, cwd=PROJECT_ROOT
        )

    def _web_answers(self) -> bool:
        try:
            return self.http.get(f"{self.web_url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start_worker(self, host: Host) -> Proc:
        """``autobuild worker`` on ``host``: its namespace, host name and Docker daemon."""
        env = {
            **self.environ,
            "DOCKER_HOST": host.docker_host,
            "AUTOBUILD_WORKDIR": str(host.root / "work"),
        }
        argv = on_host(host.net, [sys.executable, "-m", "cli.main", "worker"])
        host.worker = spawn(
            f"worker-{host.name}", argv, self.logs, lambda: True, env=env, cwd=PROJECT_ROOT
        )
        return host.worker

    def stop_worker(self, host: Host) -> None:
        """Stop ``host``'s worker the way an operator does (it takes no more builds)."""
        if host.worker is not None:
            stop_worker(host.worker)
            host.worker = None

    def stop_processes(self) -> None:
        """Stop the workers (SIGINT twice: rq's cold shutdown) and the web process."""
        for host in self.hosts:
            self.stop_worker(host)
        if self.web is not None:
            self.web.stop()
            self.web = None

    # -- the web API ------------------------------------------------------------------------------
    def push(self, name: str, commit: str, ref: str = "refs/heads/master") -> Any:
        """A signed GitHub push delivered to the web process; returns the builds it queued."""
        body = json.dumps(github_push(name, ref, commit)).encode()
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
        answer = self.http.post(
            f"{self.web_url}/webhooks/github", data=body, headers=headers, timeout=30
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["builds"]

    def get(self, path: str) -> Any:
        answer = self.http.get(f"{self.web_url}{path}", headers=ADMIN, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def build(self, build_id: str) -> Any:
        return self.get(f"/api/v1/builds/{build_id}")

    def workers(self) -> list[Any]:
        try:
            workers: list[Any] = self.get("/api/v1/workers")["workers"]
        except requests.RequestException:
            return []
        return workers

    def cancel(self, build_id: str) -> Any:
        answer = self.http.post(
            f"{self.web_url}/api/v1/builds/{build_id}/cancel", headers=ADMIN, timeout=30
        )
        assert answer.status_code in (200, 202), answer.text
        return answer.json()

    def wait_status(self, build_id: str, statuses: set[str], timeout: float) -> Any:
        """Poll the build until its status is one of ``statuses``; returns its JSON."""

        def reached() -> Any:
            record = self.build(build_id)
            return record if record["status"] in statuses else None

        return wait_for(reached, timeout, f"build {build_id} to reach {sorted(statuses)}", 0.2)

    def log_lines(self, build_id: str) -> list[str]:
        """The build's log, line by line, as the worker wrote it to Redis."""
        connection = self.redis()
        try:
            return [line.text for line in read_log(connection, build_id)]
        finally:
            connection.close()

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)

    def diagnostics(self) -> str:
        """The end of every process log, for a failure message."""
        procs = [*self.services, *(h.dockerd for h in self.hosts)]
        procs += [h.worker for h in self.hosts if h.worker] + ([self.web] if self.web else [])
        return "\n".join(proc.tail() for proc in procs)

    # -- the end ----------------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()
        self.stop_processes()
        for host in self.hosts:
            host.close()
            host.dockerd.stop(timeout=30)
        for proc in self.services:
            proc.stop()


def stop_worker(worker: Proc) -> None:
    """SIGINT twice (rq's cold shutdown ends the work horse too), then SIGKILL at the deadline."""
    if worker.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGINT)
            worker.process.send_signal(signal.SIGINT)
    worker.stop(signal.SIGINT, timeout=15)


def _parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at once (dockerd start-ups take seconds each); re-raises the first error."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


@contextlib.contextmanager
def start_cluster(logs: Path, hosts: int = 2) -> Iterator[Cluster]:
    """Network, services and ``hosts`` hosts with their daemons, and the base image (busybox
    FROM scratch, built on host 1) on the test's registry. Workers and the web process start with
    :meth:`Cluster.configure`."""
    logs.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="abmh-", dir="/tmp"))  # short: unix socket paths
    started: list[Proc] = []
    cluster: Cluster | None = None
    with claim_subnet() as subnet:
        network = Network(subnet, root)
        try:
            network.create()
            nets = [network.add_host() for _ in range(hosts)]
            address = subnet.gateway
            (redis_proc, redis_url), (registry_proc, registry_port), (git_proc, git_port) = (
                _parallel(
                    lambda: start_redis(address, root, logs),
                    lambda: start_registry(address, root, logs),
                    lambda: start_git_daemon(address, root / "git", logs),
                )
            )
            started += [redis_proc, registry_proc, git_proc]
            daemons = _start_daemons(nets, root, logs, registry_port, started)
            built = [Host(n, root / n.hostname, d) for n, d in zip(nets, daemons, strict=True)]
            cluster = Cluster(
                network=network,
                root=root,
                logs=logs,
                redis_url=redis_url,
                registry_port=registry_port,
                git_port=git_port,
                hosts=built,
                services=[redis_proc, registry_proc, git_proc],
            )
            cluster.http.trust_env = False  # no proxy between the test and its own addresses
            cluster.base_image = publish_base_image(cluster.hosts[0].api, cluster.registry)
            yield cluster
        finally:
            if cluster is not None:
                cluster.close()
            for proc in started:
                proc.stop()
            network.remove()  # ends what is left in the namespaces (containerd shims)
            shutil.rmtree(root, ignore_errors=True)


def publish_base_image(api: docker.APIClient, registry: str) -> str:
    """Build the base image (busybox FROM scratch) on ``api``'s daemon, push it to ``registry``
    and forget it there, so that every host pulls it, as hosts do with a real base image. A base
    image only one host built itself has layer blobs of that host's own compression in the inline
    cache of what it builds, and a host that pulled the base finds no match for them."""
    reference = build_and_push_base_image(api, registry)
    api.remove_image(reference, force=True)
    api.prune_builds()
    return reference


def _start_daemons(
    nets: list[HostNet], root: Path, logs: Path, registry_port: int, started: list[Proc]
) -> list[Proc]:
    """Every host's dockerd, started at once; the ones that did start are in ``started`` even
    when another failed (so they are stopped)."""

    def one(net: HostNet) -> Proc:
        proc = start_dockerd(net, root / net.hostname, logs, registry_port)
        started.append(proc)
        return proc

    return _parallel(*(functools.partial(one, net) for net in nets))
