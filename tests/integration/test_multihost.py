"""Several build hosts on one machine (tests/integration/multihost.py): two network namespaces,
each with its own host name, dockerd and ``autobuild worker``; Redis, the registry, the web
process and the git daemon on the test's bridge address. The registry is plain HTTP on that
address, listed in ``AUTOBUILD_INSECURE_REGISTRIES`` and in each dockerd's ``--insecure-registry``.

Builds spread over the hosts and their records name the host and daemon that built them; an
image built on host 1 is the layer cache of the next build on host 2 (through the registry);
``max_concurrent_builds: 1`` holds across hosts; a cancel reaches a build running on host 2; the
registry is asked over plain HTTP only because it is listed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from core.build import BuildStatus
from core.readiness import check_registry
from tests.integration.control_helpers import repository_entry, wait_for
from tests.integration.multihost import Cluster, Host
from tests.integration.multihost_procs import processes_under

pytestmark = pytest.mark.integration

BUILD_SECONDS = 120
ENDED = {status.value for status in BuildStatus if status.terminal}


def unique(prefix: str) -> str:
    return f"octo/{prefix}-{uuid.uuid4().hex[:6]}"


def interval(record: Any) -> tuple[datetime, datetime]:
    """When the build ran: the start of its first phase to the end of its last."""
    phases = record["phases"]
    assert phases, record
    start = min(datetime.fromisoformat(p["started_at"]) for p in phases)
    end = max(datetime.fromisoformat(p["finished_at"]) for p in phases)
    assert record["started_at"] and record["finished_at"]
    return start, end


def overlap(first: Any, second: Any) -> bool:
    (a_start, a_end), (b_start, b_end) = interval(first), interval(second)
    return a_start < b_end and b_start < a_end


def finished(cluster: Cluster, build: Any) -> Any:
    return cluster.wait_status(build["id"], ENDED, BUILD_SECONDS)


def test_builds_spread_over_the_hosts_and_name_host_and_daemon(multihost: Cluster) -> None:
    names = [unique("spread"), unique("spread")]
    repos, entries = [], []
    for name in names:
        # long enough that both builds run at once: the second one cannot wait for the first
        # worker, it goes to the other host
        repo, url = multihost.git_repo(name, {"Dockerfile": multihost.dockerfile("RUN sleep 3")})
        repos.append(repo)
        entries.append(repository_entry(name, url, multihost.image("spread")))
    multihost.configure(entries)

    builds = [multihost.push(name, repo.head())[0] for name, repo in zip(names, repos, strict=True)]
    done = [finished(multihost, build) for build in builds]

    assert [d["status"] for d in done] == ["success", "success"], multihost.diagnostics()
    expected = {host.name: host.daemon_id for host in multihost.hosts}
    assert {d["worker"]["host"]: d["worker"]["daemon"] for d in done} == expected
    assert overlap(*done)  # two repositories: nothing holds one build back for the other
    for record in done:
        assert multihost.registry_digest(record["image"], "latest") == record["digest"]


def test_the_plain_http_registry_is_reached_by_its_address_only_when_listed(
    multihost: Cluster,
) -> None:
    name = unique("listed")
    _, url = multihost.git_repo(name, {"Dockerfile": multihost.dockerfile("RUN true")})
    multihost.configure([repository_entry(name, url, multihost.image("listed"))])
    # the web process has the registry in AUTOBUILD_INSECURE_REGISTRIES: /readyz asks over HTTP
    answer = multihost.http.get(f"{multihost.web_url}/readyz", timeout=30)
    assert answer.json()["registries"] == {multihost.registry: "ok"}, answer.text
    # unlisted, the same address is asked over HTTPS, which a plain-HTTP registry cannot answer
    assert check_registry(multihost.registry).startswith("unreachable (SSLError")


def test_an_image_built_on_host_1_is_the_layer_cache_of_the_next_build_on_host_2(
    multihost: Cluster,
) -> None:
    host1, host2 = multihost.hosts
    name, marker = unique("cache"), f"expensive-{uuid.uuid4().hex}"
    dockerfile = multihost.dockerfile(
        f"RUN echo {marker} && echo warm > /expensive", "COPY app.txt /app.txt", "RUN cat /app.txt"
    )
    repo, url = multihost.git_repo(name, {"Dockerfile": dockerfile, "app.txt": "one\n"})
    image = multihost.image("cache")
    multihost.configure([repository_entry(name, url, image)])

    multihost.stop_worker(host2)  # the first build can only run on host 1
    first = finished(multihost, multihost.push(name, repo.head())[0])
    assert first["status"] == "success", first["error"]
    assert first["worker"]["host"] == host1.name
    assert any(line.endswith(f" {marker}") for line in multihost.log_lines(first["id"]))

    commit = repo.commit({"app.txt": "two\n"})
    multihost.start_worker(host2)
    multihost.wait_idle(host2)
    multihost.stop_worker(host1)  # the next build can only run on host 2
    assert not [i for i in host2.api.images() if any(image in t for t in i["RepoTags"] or [])]
    second = finished(multihost, multihost.push(name, commit)[0])

    assert second["status"] == "success", second["error"]
    assert second["worker"] == {"host": host2.name, "daemon": host2.daemon_id}
    log = multihost.log_lines(second["id"])
    step = next(line.split()[0] for line in log if f"RUN echo {marker}" in line)
    assert f"{step} CACHED" in log, "\n".join(log)
    assert not any(line.endswith(f" {marker}") for line in log)  # the step did not run again
    copy = next(line.split()[0] for line in log if "COPY app.txt" in line)
    assert f"{copy} CACHED" not in log  # the changed file is built anew
    assert any(line.startswith("#") and line.endswith(" two") for line in log)


def test_max_concurrent_builds_1_holds_across_hosts(multihost: Cluster) -> None:
    name = unique("limit")
    repo, url = multihost.git_repo(name, {"Dockerfile": multihost.dockerfile("RUN sleep 3")})
    multihost.configure([repository_entry(name, url, multihost.image("limit"))])
    idle = {w["host"] for w in multihost.workers() if w["state"] == "idle"}
    assert idle == {host.name for host in multihost.hosts}  # either host could take a build

    (on_branch,) = multihost.push(name, repo.head())
    (on_tag,) = multihost.push(name, repo.tag("v1.0"), "refs/tags/v1.0")
    done = [finished(multihost, on_branch), finished(multihost, on_tag)]

    assert [d["status"] for d in done] == ["success", "success"], multihost.diagnostics()
    assert not overlap(*done), [interval(d) for d in done]


def test_a_cancel_reaches_a_build_running_on_host_2(multihost: Cluster) -> None:
    host1, host2 = multihost.hosts
    name, marker = unique("cancel"), f"cancel-me-{uuid.uuid4().hex[:8]}"
    dockerfile = multihost.dockerfile(f"RUN echo {marker} && sleep 120 && echo not-reached")
    repo, url = multihost.git_repo(name, {"Dockerfile": dockerfile})
    multihost.configure([repository_entry(name, url, multihost.image("cancel"))])
    multihost.stop_worker(host1)  # the build can only run on host 2

    (build,) = multihost.push(name, repo.head())
    running = wait_for(lambda: run_step_processes(host2, marker), 60, "the RUN step on host 2")
    assert multihost.build(build["id"])["worker"]["host"] == host2.name
    multihost.cancel(build["id"])

    record = multihost.wait_status(build["id"], ENDED, 60)
    assert record["status"] == "canceled", record
    wait_for(lambda: not run_step_processes(host2, marker), 30, "the RUN step to end")
    assert host2.api.containers(all=True) == []
    assert running  # it was host 2's daemon that ran it, and it is gone


def run_step_processes(host: Host, marker: str) -> list[int]:
    """The processes of ``host``'s daemon whose command line holds ``marker``."""
    return [pid for pid, command in processes_under(host.dockerd.pid) if marker in command]
