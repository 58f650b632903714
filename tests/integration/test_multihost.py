"""Several build hosts on one machine (tests/integration/multihost.py): two network namespaces,
each with its own host name, dockerd and ``autobuild worker``; Redis, the registry, the web
process and the git daemon on the test's bridge address. Builds spread over the hosts and their
records name the host and daemon that built them."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.control_helpers import repository_entry
from tests.integration.multihost import Cluster

pytestmark = pytest.mark.integration

BUILD_SECONDS = 120


def test_builds_spread_over_the_hosts_and_name_host_and_daemon(multihost: Cluster) -> None:
    names = [f"octo/spread-{n}-{uuid.uuid4().hex[:6]}" for n in (1, 2)]
    repos, entries = [], []
    for name in names:
        # long enough that both builds are running at once: the second one cannot wait for the
        # first worker, it goes to the other host
        repo, url = multihost.git_repo(name, {"Dockerfile": multihost.dockerfile("RUN sleep 3")})
        repos.append(repo)
        entries.append(repository_entry(name, url, multihost.image("spread")))
    multihost.configure(entries)

    builds = [multihost.push(name, repo.head())[0] for name, repo in zip(names, repos, strict=True)]
    done = [
        multihost.wait_status(b["id"], {"success", "failed", "errored"}, BUILD_SECONDS)
        for b in builds
    ]

    assert [d["status"] for d in done] == ["success", "success"], multihost.diagnostics()
    expected = {host.name: host.daemon_id for host in multihost.hosts}
    assert {d["worker"]["host"]: d["worker"]["daemon"] for d in done} == expected
    for record in done:
        assert multihost.registry_digest(record["image"], "latest") == record["digest"]
