"""Submodules on the real services: pinned commits fetched through the hardened git layer into the
mirror, exported into the context, and hostile URLs refused before git runs."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest

from core.build import BuildStatus
from tests.integration.services import GitRepo
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "submodules")


def dockerfile(base_image: str, *lines: str) -> str:
    bust = f"ENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}"
    return "\n".join([f"FROM {base_image}", bust, *lines]) + "\n"


def pin(repo: GitRepo, path: str, url: str, commit: str, message: str = "add submodule") -> str:
    """Commit a submodule at ``path`` pinned to ``commit`` with ``url`` in .gitmodules (as
    ``git submodule add`` would, without cloning anything)."""
    gitmodules = repo.path / ".gitmodules"
    existing = gitmodules.read_text() if gitmodules.exists() else ""
    name = path.replace("/", "-")
    gitmodules.write_text(existing + f'[submodule "{name}"]\n\tpath = {path}\n\turl = {url}\n')
    repo.git("add", "--", ".gitmodules")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{commit},{path}")
    repo.git("commit", "-q", "-m", message)
    return repo.head()


def build(worker_context, repository, commit):
    record = create_record(worker_context.store, repository, commit)
    status = execute_build(worker_context, record.id)
    return status, worker_context.store.require(record.id)


def test_submodules_true_exports_the_pinned_commit_of_a_submodule(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    library = make_git_repo({"hello.txt": "submodule-v1\n"})
    pinned = library.head()
    library.commit({"hello.txt": "submodule-v2 (not pinned)\n"})
    app = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image, "COPY lib/sub/hello.txt /hello.txt", "RUN cat /hello.txt"
            )
        }
    )
    commit = pin(app, "lib/sub", library.url, pinned)
    repository = make_repository(app.url, image, submodules="true")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, commit)

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "submodule-v1" in log
    assert "submodule-v2" not in log
    assert f"Submodule lib/sub: commit {pinned[:7]}" in log


def test_recursive_exports_nested_submodules_with_relative_urls(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    app = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image,
                "COPY . /src",
                "RUN cat /src/outer/outer.txt /src/outer/inner/inner.txt",
            )
        }
    )
    outer = make_git_repo({"outer.txt": "outer-level-file\n"})
    inner = make_git_repo({"inner.txt": "inner-level-file\n"})
    # repo1 (app), repo2 (outer), repo3 (inner) are siblings: ../repoN resolves against each URL
    assert (app.path.parent, outer.path.parent) == (inner.path.parent, inner.path.parent)
    outer_commit = pin(outer, "inner", f"../{inner.path.name}", inner.head())
    commit = pin(app, "outer", f"../{outer.path.name}", outer_commit)
    repository = make_repository(app.url, image, submodules="recursive")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, commit)

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "outer-level-file" in log
    assert "inner-level-file" in log


def test_submodules_true_does_not_recurse_into_nested_submodules(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    app = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image,
                "COPY . /src",
                'RUN test -f /src/outer/outer.txt && test -z "$(ls -A /src/outer/inner)"'
                " && echo nested-left-empty",
            )
        }
    )
    outer = make_git_repo({"outer.txt": "outer\n"})
    inner = make_git_repo({"inner.txt": "inner\n"})
    outer_commit = pin(outer, "inner", inner.url, inner.head())
    commit = pin(app, "outer", outer.url, outer_commit)
    repository = make_repository(app.url, image, submodules="true")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, commit)

    assert status == "success", record.error
    assert "nested-left-empty" in log_text(clean_redis, record.id)


def test_submodules_false_leaves_the_submodule_folder_empty(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    library = make_git_repo({"hello.txt": "should-not-appear\n"})
    app = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image,
                "COPY . /src",
                'RUN test -d /src/lib/sub && test -z "$(ls -A /src/lib/sub)" && echo folder-empty',
            )
        }
    )
    commit = pin(app, "lib/sub", library.url, library.head())
    repository = make_repository(app.url, image)  # submodules: false is the default

    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    status, record = build(context, repository, commit)

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "folder-empty" in log
    assert "Submodule" not in log


def test_a_submodule_with_an_ext_url_is_refused_and_nothing_runs(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    marker = tmp_path / "ext-ran"
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    commit = pin(app, "evil", f"ext::sh -c touch% {marker}", app.head())
    repository = make_repository(app.url, image, submodules="true")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, commit)

    assert status == "failed"
    assert record.status is BuildStatus.FAILED
    assert record.error is not None
    assert record.error.startswith(
        f"Submodule evil (in commit {commit[:7]}) is refused: its URL must not contain whitespace"
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ext::touch%ext-ran", "its URL must not use a git remote helper ('ext::'"),
        ("fd::3", "its URL must not use a git remote helper"),
        ("--upload-pack=touch%x", "must not start with '-'"),
        ("https://user:secret-token@git.example/x.git", "must not contain credentials"),
        ("https://git.example/x.git?private_token=secret-token", "must not have a query string"),
        ("gopher://git.example/x.git", "scheme 'gopher' is not allowed"),
    ],
)
def test_submodule_urls_are_checked_like_clone_urls(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image, url, reason
):
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    commit = pin(app, "sub", url, app.head())
    repository = make_repository(app.url, image, submodules="true")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, commit)

    assert status == "failed"
    assert record.error is not None and reason in record.error
    assert "secret-token" not in record.error
    assert "secret-token" not in log_text(clean_redis, record.id)


def test_the_export_limit_counts_submodules_too(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    library = make_git_repo({"big.bin": b"x" * 200_000})
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    commit = pin(app, "lib", library.url, library.head())
    repository = make_repository(app.url, image, submodules="true")
    environ = {"AUTOBUILD_MAX_EXPORT_BYTES": "100000"}
    context = make_context(tmp_path, redis_url, clean_redis, [repository], environ=environ)

    status, record = build(context, repository, commit)

    assert status == "failed"
    assert record.error is not None and "AUTOBUILD_MAX_EXPORT_BYTES" in record.error
    assert "submodule" in record.error
    assert not any(Path(tmp_path / "work").rglob("big.bin"))


def test_a_submodule_host_that_never_answers_ends_at_the_builds_deadline(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    with socket.socket() as silent:  # accepts the connection, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        pinned = app.head()
        commit = pin(app, "lib", f"git://127.0.0.1:{port}/lib.git", pinned)
        repository = make_repository(app.url, image, submodules="true", timeout_seconds=4)
        context = make_context(tmp_path, redis_url, clean_redis, [repository])

        started = time.monotonic()
        status, record = build(context, repository, commit)

    assert status == "timed_out"
    assert time.monotonic() - started < 30
    assert record.error is not None and "timeout of 4 seconds" in record.error, record.error
    assert f"fetching commit {pinned[:7]} from 127.0.0.1:{port}" in record.error, record.error
