"""The git layer in whole builds on the real services: no git process outlives a build."""

from __future__ import annotations

import pytest

from core.events import RefType
from tests.integration.test_worker import build, dockerfile
from tests.integration.worker_helpers import make_context, make_repository, unique_image
from tests.processes import children, processes_touching

pytestmark = pytest.mark.integration


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url)


def test_no_git_process_is_left_behind_after_builds(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    first = repo.head()
    tag_object_commit = repo.tag("v1", message="release 1")
    assert tag_object_commit == first
    tag_object = repo.git("rev-parse", "refs/tags/v1")
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    before = children()

    status, record = build(context, repository, first)
    assert status == "success", record.error
    status, record = build(
        context, repository, tag_object, tags=("1",), source_type=RefType.TAG, source_name="v1"
    )
    assert status == "success", record.error
    assert record.commit == first

    assert (tmp_path / "work" / "mirrors").is_dir()
    assert processes_touching(tmp_path / "work") == []
    assert children() == before
