"""Losing a build host mid-build, on the multi-host harness (tests/integration/multihost.py: two
hosts in network namespaces, each with its own dockerd and ``autobuild worker``).

- A host killed outright (every process in its namespace, SIGKILL by PID) stops beating; the other
  host's worker finds the build lost once its heartbeat lease expired and runs attempt 2, which
  pushes every tag once.
- A host cut off from the network (its veth down) goes on running its build unseen. Its lease
  expires, the other host takes the build over and pushes it; the cut-off worker stops its attempt
  before that could happen (its lease went unconfirmed for two beats) and, reconnected, pushes
  nothing: the fence before every push (worker/fence.py) asks Redis, which says attempt 2.
- A host cut off while its push is in flight (its uplink slowed with ``tc`` so the push takes
  seconds) has that push cut by its own worker before the other host takes the build over; the
  upload never completes into a manifest.

"Pushed once" is read from the registry itself: its access log has one line per request, naming
the method, the URI and the remote address, so every manifest ``PUT`` of the image is counted,
with the host it came from. The tags' digests must be attempt 2's, and the record's progress must
list each tag as pushed with that digest.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.integration.control_helpers import repository_entry, wait_for
from tests.integration.multihost import Cluster, Host
from tests.integration.multihost_procs import start_dockerd
from tests.integration.worker_helpers import log_text

pytestmark = pytest.mark.integration

BUILD_SECONDS = 120
TAGS = ["latest", "stable"]
ENDED = {"success", "failed", "error", "timed_out", "canceled"}
KEPT = ("status", "attempt", "digest", "worker", "progress", "finished_at")
FIELD = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S+)')


def registry_requests(cluster: Cluster, method: str, prefix: str) -> list[tuple[str, str]]:
    """(remote address, the URI after ``prefix``) of every ``method`` request under ``prefix``
    the registry answered, from its access log."""
    found = []
    for line in (cluster.logs / "registry.log").read_text(errors="replace").splitlines():
        fields = {key: value.strip('"') for key, value in FIELD.findall(line)}
        uri = fields.get("http.request.uri", "")
        if fields.get("http.request.method") == method and uri.startswith(prefix):
            address = fields.get("http.request.remoteaddr", "").rsplit(":", 1)[0]
            found.append((address, uri[len(prefix) :]))
    return found


def manifest_puts(cluster: Cluster, image: str) -> list[tuple[str, str]]:
    """(remote address, tag or digest) of every manifest ``PUT`` for ``image``."""
    return registry_requests(cluster, "PUT", f"/v2/{image.split('/', 1)[1]}/manifests/")


def start_build(
    cluster: Cluster, prefix: str, step: str = "sleep 6", **environ: str
) -> tuple[Any, str, str]:
    """Configure a repository whose build prints a marker and then runs ``step`` in a ``RUN``
    step, push it, and wait until a host runs that step; the build, the image and the marker."""
    name, marker = f"octo/{prefix}-{uuid.uuid4().hex[:6]}", f"{prefix}-{uuid.uuid4().hex[:8]}"
    dockerfile = cluster.dockerfile(f"RUN echo {marker} && {step}")
    repo, url = cluster.git_repo(name, {"Dockerfile": dockerfile})
    image = cluster.image(prefix)
    rule = {"source_type": "branch", "source": "master", "docker_tag": TAGS}
    cluster.configure([repository_entry(name, url, image, build_rules=[rule])], **environ)
    (build,) = cluster.push(name, repo.head())
    connection = cluster.redis()
    try:
        wait_for(lambda: marker in log_text(connection, build["id"]), 90, "the RUN step")
    finally:
        connection.close()
    return build, image, marker


def hosts_of(cluster: Cluster, record: Any) -> tuple[Host, Host]:
    """The host running the build (the one the test takes away), and the other one."""
    victim = cluster.host(record["worker"]["host"])
    return victim, next(host for host in cluster.hosts if host is not victim)


def assert_pushed_once_by(cluster: Cluster, image: str, done: Any, host: Host) -> None:
    """Every tag points at the build's digest, was recorded as pushed with it, and the registry
    took exactly one manifest ``PUT`` per tag, all from ``host``'s address."""
    pushed = {p["tag"]: p["digest"] for p in done["progress"]["pushed"]}
    assert pushed == dict.fromkeys(TAGS, done["digest"]), done["progress"]
    for tag in TAGS:
        assert cluster.registry_digest(image, tag) == done["digest"], tag
    puts = manifest_puts(cluster, image)  # the tags, and any signature or attestation
    assert {address for address, _ in puts} == {host.net.address}, puts
    assert sorted(tag for _, tag in puts if tag in TAGS) == sorted(TAGS), puts


def kill_host(cluster: Cluster, host: Host) -> None:
    """The machine is gone: SIGKILL every process in its namespace (worker, work horse, dockerd,
    containerd), each by its PID, then reap the two the harness started."""
    for pid in cluster.network.pids(host.net):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for proc in (host.worker, host.dockerd):
        if proc is not None:
            proc.stop(timeout=10)
    host.worker = None
    host.close()


def revive_daemon(cluster: Cluster, host: Host) -> None:
    """Start the host's dockerd again (the next ``configure`` starts its worker)."""
    host.dockerd = start_dockerd(host.net, host.root, cluster.logs, cluster.registry_port)


def idle_again_since(cluster: Cluster, host: Host, since: datetime) -> bool:
    """Whether ``host`` has a worker idle with a heartbeat after ``since`` and none busy."""
    mine = [w for w in cluster.workers() if w["host"] == host.name]
    fresh = [
        w
        for w in mine
        if w["state"] == "idle"
        and w["last_heartbeat"]
        and datetime.fromisoformat(w["last_heartbeat"]) > since
    ]
    return bool(fresh) and not any(w["state"] == "busy" for w in mine)


def lease_lost_at(host: Host, build_id: str) -> datetime:
    """When ``host``'s worker logged that it stopped ``build_id`` for want of a confirmed lease."""
    text = host.worker.log_path.read_text(errors="replace") if host.worker else ""
    found = re.search(
        rf"^ts=(\S+) .*build {build_id}: Redis has not confirmed its lease", text, re.M
    )
    assert found, f"{host.name}'s worker never stopped the build: {text[-2000:]}"
    return datetime.fromisoformat(found.group(1))


def cut_off_until_taken_over(cluster: Cluster, build_id: str, victim: Host, survivor: Host) -> Any:
    """Cut ``victim`` off (its veth down) until attempt 2 of the build has succeeded on
    ``survivor``, reconnect it, and wait until its worker is idle again; the ended record."""
    cluster.network.set_link(victim.net, up=False)
    try:
        done = cluster.wait_status(build_id, ENDED, BUILD_SECONDS)
        assert done["status"] == "success", (done, cluster.diagnostics())
        assert (done["attempt"], done["worker"]["host"]) == (2, survivor.name), done
    finally:
        reconnected = datetime.now().astimezone()
        cluster.network.set_link(victim.net, up=True)
    wait_for(
        lambda: idle_again_since(cluster, victim, reconnected),
        60,
        f"the worker on {victim.name} to be idle again",
    )
    return done


def test_a_host_cut_off_mid_build_never_pushes_after_its_lease_was_taken(
    multihost: Cluster,
) -> None:
    # Redis answers within 3 s or is unreachable: the cut-off worker finds out quickly
    build, image, marker = start_build(multihost, "cut", AUTOBUILD_REDIS_TIMEOUT="3")
    first = multihost.build(build["id"])
    assert (first["attempt"], first["status"]) == (1, "building"), first
    victim, survivor = hosts_of(multihost, first)

    # Cut off until attempt 2 has succeeded on the other host; back on the network, the old
    # attempt's worker settles (its attempt ended, a fresh rq loop takes builds again); it pushed
    # nothing, and the record is as attempt 2 left it.
    done = cut_off_until_taken_over(multihost, build["id"], victim, survivor)
    # The cut-off worker stopped its attempt (cutting its streams) before attempt 2 started.
    stopped_at = lease_lost_at(victim, build["id"])
    assert stopped_at < datetime.fromisoformat(done["started_at"]), (stopped_at, done)
    final = multihost.build(build["id"])
    assert [final[k] for k in KEPT] == [done[k] for k in KEPT], final
    assert_pushed_once_by(multihost, image, done, survivor)
    connection = multihost.redis()
    try:
        log = log_text(connection, build["id"])
    finally:
        connection.close()
    assert log.count(marker) >= 2  # both attempts ran the step
    assert "Attempt 2 of 3 after: The worker running this build was lost" in log


def test_a_host_killed_mid_build_gets_the_build_retried_on_the_other_host_once(
    multihost: Cluster,
) -> None:
    build, image, _ = start_build(multihost, "killed")
    first = multihost.build(build["id"])
    assert (first["attempt"], first["status"]) == (1, "building"), first
    victim, survivor = hosts_of(multihost, first)

    kill_host(multihost, victim)
    try:
        done = multihost.wait_status(build["id"], ENDED, BUILD_SECONDS)
    finally:
        revive_daemon(multihost, victim)  # the module's next test finds two hosts

    assert done["status"] == "success", (done, multihost.diagnostics())
    assert done["attempt"] == 2, done
    worker = done["worker"]
    assert (worker["host"], worker["daemon"]) == (survivor.name, survivor.daemon_id), done
    assert_pushed_once_by(multihost, image, done, survivor)
    connection = multihost.redis()
    try:
        log = log_text(connection, build["id"])
    finally:
        connection.close()
    assert "Attempt 2 of 3 after: The worker running this build was lost" in log


@contextlib.contextmanager
def slow_uplink(host: Host, rate: str) -> Iterator[None]:
    """What ``host`` sends is held to ``rate`` (a token bucket on its side of the veth): a push
    from it takes seconds."""
    if shutil.which("tc") is None:
        pytest.skip("tc (iproute2) is not installed: no way to slow a host's uplink")
    netns = host.net.netns
    shape = ["tbf", "rate", rate, "burst", "64kbit", "latency", "2s"]
    subprocess.run(["tc", "-n", netns, "qdisc", "add", "dev", "eth0", "root", *shape], check=True)
    try:
        yield
    finally:
        subprocess.run(["tc", "-n", netns, "qdisc", "del", "dev", "eth0", "root"], check=False)


def test_a_push_in_flight_when_its_host_is_cut_off_is_cut_before_the_takeover(
    multihost: Cluster,
) -> None:
    # 4 MB of noise to push; beats every 2 s, so a slow uplink does not look like a lost lease
    step = "head -c 4000000 /dev/urandom > /noise && sleep 2"
    slow = {"AUTOBUILD_HEARTBEAT_SECONDS": "2", "AUTOBUILD_REDIS_TIMEOUT": "3"}
    build, image, _ = start_build(multihost, "inflight", step, **slow)
    victim, survivor = hosts_of(multihost, multihost.build(build["id"]))
    uploads = f"/v2/{image.split('/', 1)[1]}/blobs/uploads/"

    with slow_uplink(victim, "4mbit"):  # about 8 s for the noise
        wait_for(
            lambda: (victim.net.address, "") in registry_requests(multihost, "POST", uploads),
            90,
            f"{victim.name} to start uploading the image",
        )
        done = cut_off_until_taken_over(multihost, build["id"], victim, survivor)

    assert lease_lost_at(victim, build["id"]) < datetime.fromisoformat(done["started_at"])
    assert_pushed_once_by(multihost, image, done, survivor)  # nothing from the cut-off host
