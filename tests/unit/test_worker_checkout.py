"""Validating what the worker is asked to fetch and build: commit ids, refs, context paths, URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.gitcmd import failure_reason, git_environment, strip_credentials, url_host
from worker.checkout import normalize_context, normalize_dockerfile, resolve_build_context
from worker.errors import ContextError, WorkerError
from worker.mirror import mirror_name, valid_ref_name, validate_sha

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("sha", [SHA, "a" * 64])
def test_full_commit_ids_are_accepted(sha):
    assert validate_sha(sha) == sha


@pytest.mark.parametrize(
    "sha",
    [
        "",
        "abc1234",
        SHA.upper(),
        SHA + "0",
        "--upload-pack=touch /tmp/x",
        f"{SHA}\n",
        "g" * 40,
        "a" * 50,
    ],
)
def test_anything_else_is_refused_as_a_commit_id(sha):
    with pytest.raises(WorkerError, match="not a full commit id"):
        validate_sha(sha)


@pytest.mark.parametrize("name", ["master", "feature/x", "v1.2.3", "release-2024_01", "a/b/c"])
def test_valid_ref_names(name):
    assert valid_ref_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-x",
        "--upload-pack=x",
        "a..b",
        "a b",
        "a:b",
        "a~1",
        "a^",
        "a?",
        "a*",
        "a[b",
        "a\\b",
        "x.lock",
        "a/.hidden",
        "a//b",
        "a/",
        "/a",
        "a.",
        "@",
        "a@{1}",
        "a\x00b",
    ],
)
def test_invalid_ref_names(name):
    assert not valid_ref_name(name)


@pytest.mark.parametrize(
    ("context", "expected"),
    [("/", "."), ("", "."), ("sub/dir", "sub/dir"), ("/sub/dir/", "sub/dir"), ("./app", "app")],
)
def test_context_paths_are_relative_to_the_repository_root(context, expected):
    assert str(normalize_context(context)) == expected


@pytest.mark.parametrize("context", ["..", "/../etc", "sub/../../x", "a\\b", "a\x00"])
def test_context_paths_may_not_leave_the_repository(context):
    with pytest.raises(ContextError):
        normalize_context(context)


def test_dockerfile_paths_are_relative_to_the_context():
    assert str(normalize_dockerfile("Dockerfile")) == "Dockerfile"
    assert str(normalize_dockerfile("docker/Dockerfile.prod")) == "docker/Dockerfile.prod"
    assert str(normalize_dockerfile("")) == "Dockerfile"
    for bad in ("/etc/passwd", "../Dockerfile", ".", "a/../../b"):
        with pytest.raises(ContextError):
            normalize_dockerfile(bad)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_build_context_and_dockerfile_are_found_in_the_export(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM x\n", "app/docker/Dockerfile.prod": "FROM y\n"})
    root = resolve_build_context(tmp_path, "/", "Dockerfile", SHA)
    assert root.directory == tmp_path.resolve() and root.dockerfile == "Dockerfile"
    sub = resolve_build_context(tmp_path, "app", "docker/Dockerfile.prod", SHA)
    assert sub.directory == (tmp_path / "app").resolve()
    assert sub.dockerfile == "docker/Dockerfile.prod"


def test_a_missing_context_or_dockerfile_is_the_users_failure(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM x\n"})
    with pytest.raises(ContextError, match="build context nope does not exist in commit 0123456"):
        resolve_build_context(tmp_path, "nope", "Dockerfile", SHA)
    with pytest.raises(ContextError, match=r"no Dockerfile Dockerfile\.dev in the build context /"):
        resolve_build_context(tmp_path, "/", "Dockerfile.dev", SHA)


def test_symbolic_links_may_not_lead_out_of_the_repository(tmp_path):
    repo = tmp_path / "repo"
    write(repo, {"Dockerfile": "FROM x\n"})
    (tmp_path / "secret").write_text("host file\n")
    (repo / "escape").symlink_to(tmp_path)
    (repo / "Dockerfile.link").symlink_to(tmp_path / "secret")
    with pytest.raises(ContextError, match="points outside the repository"):
        resolve_build_context(repo, "escape", "Dockerfile", SHA)
    with pytest.raises(ContextError, match="points outside the repository"):
        resolve_build_context(repo, "/", "Dockerfile.link", SHA)


def test_credentials_are_stripped_from_clone_urls():
    assert (
        strip_credentials("https://user:tok3n@github.com/o/r.git") == "https://github.com/o/r.git"
    )
    assert strip_credentials("https://github.com/o/r.git") == "https://github.com/o/r.git"
    assert strip_credentials("git@github.com:o/r.git") == "git@github.com:o/r.git"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://user:tok@github.com/o/r.git", "github.com"),
        ("https://git.example.com:8443/o/r.git", "git.example.com:8443"),
        ("ssh://git@gitlab.com/o/r.git", "gitlab.com"),
        ("git@bitbucket.org:o/r.git", "bitbucket.org"),
        ("file:///srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_messages_name_the_git_host(url, host):
    assert url_host(url) == host


def test_mirror_names_are_safe_and_follow_the_clone_url():
    a = mirror_name("github", "Octo/Hello-World", "https://github.com/octo/hello-world.git")
    b = mirror_name("github", "Octo/Hello-World", "https://github.com/octo/other.git")
    assert a.startswith("github-octo_hello-world-") and a != b
    assert "/" not in mirror_name("git", "../../etc", "x") and ".." not in mirror_name(
        "git", "..", "x"
    )


def test_git_gets_a_minimal_environment_without_the_workers_secrets():
    env = git_environment({"PATH": "/usr/bin", "REGISTRY_PASSWORD": "hunter22", "HOME": "/root"})
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/root"
    assert "REGISTRY_PASSWORD" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert "ext" not in env["GIT_ALLOW_PROTOCOL"].split(":")


def test_git_failures_are_reduced_to_their_reason():
    stderr = "remote: Repository not found.\nfatal: repository 'https://x/y.git/' not found\n"
    assert failure_reason(stderr) == "repository 'https://x/y.git/' not found"
    assert failure_reason("error: bad thing\n") == "bad thing"
    assert failure_reason("") == "git gave no reason"
