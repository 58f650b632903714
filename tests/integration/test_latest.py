"""latest: auto on the real Redis: the highest release so far, decided when builds are queued."""

from __future__ import annotations

import textwrap

import pytest
from rq import Queue

from buildrules.loader import load_text
from buildrules.matcher import match
from buildrules.model import BuildPlan, Config, Repository
from core.build import Trigger
from core.dispatch import dispatch
from core.events import PushEvent, RefType
from core.latest import with_latest
from core.store import BuildStore

pytestmark = pytest.mark.integration

SHA = "a" * 40


def repository() -> Repository:
    text = textwrap.dedent(
        """\
        repositories:
          - provider: github
            name: acme/app
            clone_url: https://github.com/acme/app.git
            image: 127.0.0.1:5000/acme/app
            build_rules:
              - source_type: tag
                source: /^v(?P<version>.+)$/
                docker_tag: ['{version|semver}', '{version|semver:major}']
                latest: auto
        """
    )
    return load_text(text).repositories[0]


def tags_for(connection, repo: Repository, tag: str) -> tuple[str, ...]:
    event = PushEvent("github", "acme/app", RefType.TAG, tag, SHA)
    (plan,) = with_latest(connection, repo, match_plans(repo, event))
    return plan.docker_tags


def match_plans(repo: Repository, event: PushEvent) -> tuple[BuildPlan, ...]:
    return match(Config(repositories=(repo,)), event).plans


def test_latest_goes_only_to_the_highest_release_so_far(clean_redis) -> None:
    repo = repository()
    assert tags_for(clean_redis, repo, "v1.4.0") == ("1.4.0", "1", "latest")
    assert tags_for(clean_redis, repo, "v1.3.9") == ("1.3.9", "1")
    assert tags_for(clean_redis, repo, "v2.0.0-rc.1") == ("2.0.0-rc.1",)
    assert tags_for(clean_redis, repo, "v1.10.0") == ("1.10.0", "1", "latest")
    assert tags_for(clean_redis, repo, "v1.10.0") == ("1.10.0", "1", "latest")  # a rebuild


def test_dispatch_records_the_latest_tag_on_the_build(clean_redis) -> None:
    repo = repository()
    store = BuildStore(clean_redis)
    queue = Queue("test-latest", connection=clean_redis)
    for tag, expected in (("v3.1.0", True), ("v3.0.5", False)):
        event = PushEvent("github", "acme/app", RefType.TAG, tag, SHA)
        result = dispatch(
            store, queue, repo, match_plans(repo, event), trigger=Trigger.WEBHOOK, delivery_id=tag
        )
        (record,) = result.builds
        assert ("latest" in store.require(record.id).docker_tags) is expected
