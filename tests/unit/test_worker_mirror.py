"""The bare mirror with real git (no other service): exact commits, fallbacks, clean exports."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from core.events import RefType
from core.gitcmd import GitResult
from worker.checkout import FetchResult, GitSource, Mirror, checkout_context
from worker.deadline import Deadline
from worker.errors import BuildTimeoutError, CheckoutError, WorkerError

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


class Repo:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "master")

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=GIT_ENV, check=True, capture_output=True, text=True
        )
        return result.stdout.strip()

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.git("add", "--", name)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path / "origin")


@pytest.fixture
def mirror(tmp_path):
    return Mirror(tmp_path / "mirrors" / "m", {"PATH": os.environ["PATH"]})


def source(repo: Repo, sha: str, name: str = "master", ref_type: RefType = RefType.BRANCH):
    return GitSource(repo.url, sha, ref_type, name)


def deadline(seconds: float = 60) -> Deadline:
    return Deadline(seconds)


def test_the_exact_commit_is_fetched_into_a_bare_mirror_and_a_rebuild_fetches_nothing(repo, mirror):
    first = repo.commit({"a.txt": "1\n"})
    repo.commit({"a.txt": "2\n"})
    assert mirror.fetch_commit(source(repo, first), deadline()) == FetchResult("commit")
    assert (mirror.path / "HEAD").is_file() and not (mirror.path / ".git").exists()
    master = "refs/autobuild/heads/master"
    assert mirror.git.run(["rev-parse", master], 10).stdout.strip() == first
    assert mirror.fetch_commit(source(repo, first), deadline()) == FetchResult("present")


def test_a_server_that_refuses_unadvertised_commits_gets_the_ref_fetched(tmp_path, repo):
    old = repo.commit({"a.txt": "old\n"})
    repo.commit({"a.txt": "new\n"})
    # Protocol v0 with the default upload-pack settings refuses "want <sha>" of a non-tip commit.
    mirror = Mirror(tmp_path / "m0", {"PATH": os.environ["PATH"]}, (("protocol.version", "0"),))
    lines = []
    assert mirror.fetch_commit(source(repo, old), deadline(), lines.append) == FetchResult("ref")
    assert "fetching refs/heads/master instead" in lines[0]
    assert mirror.has_commit(old, deadline())


def test_a_commit_no_longer_on_its_ref_is_an_error(tmp_path, repo):
    repo.commit({"a.txt": "1\n"})
    gone = repo.commit({"a.txt": "force-pushed away\n"})
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    mirror = Mirror(tmp_path / "m0", {"PATH": os.environ["PATH"]}, (("protocol.version", "0"),))
    with pytest.raises(CheckoutError, match=f"Commit {gone[:7]} is not on branch master at"):
        mirror.fetch_commit(source(repo, gone), deadline())


def test_an_unknown_repository_is_an_error_naming_it(tmp_path, mirror):
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckoutError) as caught:
        mirror.fetch_commit(
            GitSource(missing.as_uri(), "c" * 40, RefType.BRANCH, "main"), deadline()
        )
    assert caught.value.message.startswith(f"Could not fetch commit ccccccc from {missing}:")


def annotated_tag(repo: Repo, name: str, target: str = "HEAD") -> str:
    repo.git("tag", "-a", name, "-m", f"release {name}", target)
    return repo.git("rev-parse", f"refs/tags/{name}")


def test_a_branch_build_of_a_tag_object_id_is_refused_in_favour_of_its_commit(repo, mirror):
    commit = repo.commit({"a.txt": "1\n"})
    tag_object = annotated_tag(repo, "v1")
    assert tag_object != commit
    # The mirror has the tag object (from a build of the tag): a branch build may not use it.
    mirror.fetch_commit(source(repo, tag_object, "v1", RefType.TAG), deadline())
    with pytest.raises(WorkerError, match=f"{tag_object} names a tag, not a commit"):
        mirror.fetch_commit(source(repo, tag_object, "master"), deadline())


def test_a_branch_build_of_a_tag_object_the_mirror_lacks_is_not_built(repo, mirror):
    repo.commit({"a.txt": "1\n"})
    tag_object = annotated_tag(repo, "v1")
    with pytest.raises(WorkerError, match="names a tag, not a commit"):
        mirror.fetch_commit(source(repo, tag_object, "master"), deadline())


def test_a_tag_build_of_an_annotated_tag_object_builds_the_commit_it_points_to(repo, mirror):
    tagged = repo.commit({"a.txt": "tagged\n"})
    tag_object = annotated_tag(repo, "v2.0")
    repo.commit({"a.txt": "later\n"})
    tag = source(repo, tag_object, "v2.0", RefType.TAG)
    assert mirror.fetch_commit(tag, deadline()) == FetchResult("commit", peeled=tagged)
    assert mirror.ref_target("refs/autobuild/tags/v2.0", deadline()) == tag_object
    assert mirror.fetch_commit(tag, deadline()) == FetchResult("present", peeled=tagged)
    # The tagged commit itself is an ordinary commit build.
    assert mirror.fetch_commit(source(repo, tagged, "v2.0", RefType.TAG), deadline()) == (
        FetchResult("present")
    )


def test_a_tag_of_a_tag_is_peeled_to_its_commit(repo, mirror):
    tagged = repo.commit({"a.txt": "tagged\n"})
    inner = annotated_tag(repo, "inner")
    outer = annotated_tag(repo, "v3", inner)
    assert len({tagged, inner, outer}) == 3
    assert mirror.fetch_commit(source(repo, outer, "v3", RefType.TAG), deadline()).peeled == tagged


def test_a_tag_object_of_another_tag_is_not_built_as_this_tag(repo, mirror):
    old = repo.commit({"a.txt": "old\n"})
    old_tag = annotated_tag(repo, "v1.0")
    repo.commit({"a.txt": "new\n"})
    annotated_tag(repo, "v2.0")
    with pytest.raises(CheckoutError, match=f"Tag object {old_tag[:7]} is not tag v2.0 at") as no:
        mirror.fetch_commit(source(repo, old_tag, "v2.0", RefType.TAG), deadline())
    assert not no.value.retryable
    assert mirror.resolve_commit(old_tag, deadline()) == old  # fetched, but not built


def test_a_tag_moved_since_the_push_is_not_built_even_from_the_mirror(repo, mirror):
    repo.commit({"a.txt": "1\n"})
    first = annotated_tag(repo, "v1")
    tag = source(repo, first, "v1", RefType.TAG)
    assert mirror.fetch_commit(tag, deadline()).method == "commit"
    repo.commit({"a.txt": "2\n"})
    repo.git("tag", "-f", "-a", "v1", "-m", "moved")
    with pytest.raises(CheckoutError, match="was the tag moved"):
        mirror.fetch_commit(tag, deadline())  # the mirror has it: the host is asked anyway


def test_a_tag_object_is_checked_against_the_ref_the_fallback_fetched(tmp_path, repo, mirror):
    tagged = repo.commit({"a.txt": "1\n"})
    tag_object = annotated_tag(repo, "v1")
    fetched: list[str] = []
    real_fetch = mirror._fetch

    def by_ref_only(source, refspec, deadline, depth=None):  # a host refusing "want <sha>"
        fetched.append(refspec)
        if refspec.startswith(f"+{tag_object}:"):
            return GitResult(128, "", "fatal: not our ref")
        return real_fetch(source, refspec, deadline, depth)

    mirror._fetch = by_ref_only
    result = mirror.fetch_commit(source(repo, tag_object, "v1", RefType.TAG), deadline())
    assert result == FetchResult("ref", peeled=tagged)
    local = "refs/autobuild/tags/v1"
    assert fetched == [f"+{tag_object}:{local}", f"+refs/tags/v1:{local}"]  # no third


def test_the_export_of_a_tag_object_is_its_commit(tmp_path, repo, mirror):
    tagged = repo.commit({"Dockerfile": "FROM scratch\n", "v.txt": "tagged\n"})
    tag_object = annotated_tag(repo, "v1")
    repo.commit({"v.txt": "later\n"})
    with checkout_context(
        mirror,
        source(repo, tag_object, "v1", RefType.TAG),
        context="/",
        dockerfile="Dockerfile",
        scratch_dir=tmp_path / "contexts",
        deadline=deadline(),
    ) as built:
        assert built.commit == tagged
        assert built.fetch.peeled == tagged
        assert (built.directory / "v.txt").read_text() == "tagged\n"


def test_the_ext_transport_is_never_used(tmp_path, mirror):
    marker = tmp_path / "pwned"
    url = f"ext::sh -c touch% {marker}"
    with pytest.raises(CheckoutError):
        mirror.fetch_commit(GitSource(url, "d" * 40, RefType.BRANCH, "main"), deadline())
    assert not marker.exists()


def test_options_smuggled_in_as_a_url_are_not_options(tmp_path, mirror):
    marker = tmp_path / "pwned"
    url = f"--upload-pack=touch {marker}"
    with pytest.raises(CheckoutError):
        mirror.fetch_commit(GitSource(url, "d" * 40, RefType.BRANCH, "main"), deadline())
    assert not marker.exists()


def test_the_export_holds_exactly_the_committed_files_without_git(tmp_path, repo, mirror):
    sha = repo.commit(
        {
            "Dockerfile": "FROM scratch\n",
            "app/x.txt": "x\n",
            "run.sh": "#!/bin/sh\n",
            ".gitattributes": "app/x.txt export-ignore\nversion.txt export-subst\n",
            "version.txt": "$Format:%H$\n",
        }
    )
    os.chmod(repo.path / "run.sh", 0o755)
    sha = repo.commit({"run.sh": "#!/bin/sh\necho hi\n"})
    repo.commit({"later.txt": "not in the build\n"})
    with checkout_context(
        mirror,
        source(repo, sha),
        context="/",
        dockerfile="Dockerfile",
        scratch_dir=tmp_path / "contexts",
        deadline=deadline(),
    ) as built:
        root = built.directory
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
            ".gitattributes",
            "Dockerfile",
            "app",
            "app/x.txt",  # export-ignore does not hide files from the build
            "run.sh",
            "version.txt",
        ]
        assert (root / "version.txt").read_text() == "$Format:%H$\n"  # no export-subst
        assert os.access(root / "run.sh", os.X_OK)
    assert list((tmp_path / "contexts").iterdir()) == []  # removed afterwards


def test_the_export_is_removed_when_the_build_fails(tmp_path, repo, mirror):
    sha = repo.commit({"Dockerfile": "FROM scratch\n"})
    with (
        pytest.raises(RuntimeError),
        checkout_context(
            mirror,
            source(repo, sha),
            context="/",
            dockerfile="Dockerfile",
            scratch_dir=tmp_path / "contexts",
            deadline=deadline(),
        ),
    ):
        raise RuntimeError("the build broke")
    assert list((tmp_path / "contexts").iterdir()) == []


def test_a_half_made_mirror_is_made_again(repo, mirror):
    sha = repo.commit({"a": "1\n"})
    mirror.path.mkdir(parents=True)
    (mirror.path / "junk").write_text("interrupted init\n")
    assert mirror.fetch_commit(source(repo, sha), deadline()).fetched
    assert not (mirror.path / "junk").exists()


def test_builds_of_one_repository_take_turns_with_the_mirror(mirror):
    lines = []
    holding = threading.Event()
    release = threading.Event()

    def hold():
        with mirror.locked(deadline()):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with mirror.locked(deadline(), lines.append):
        waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.25
    assert lines == ["Waiting for another build of this repository to finish with the git mirror"]


def test_waiting_for_the_mirror_counts_against_the_deadline(mirror):
    holding = threading.Event()
    release = threading.Event()

    def hold():
        with mirror.locked(deadline()):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    try:
        with (
            pytest.raises(BuildTimeoutError, match="waiting for the git mirror"),
            mirror.locked(Deadline(0.3)),
        ):
            pass
    finally:
        release.set()
        thread.join()


@pytest.mark.parametrize("ref_type", [RefType.BRANCH, RefType.TAG])
def test_a_ref_named_like_an_earlier_refs_directory_still_builds(tmp_path, repo, ref_type):
    """``deploy/x`` then ``deploy``, then ``deploy/x`` again: the mirror's own refs never stand
    in each other's way, whatever the host's refs were called when they were fetched."""
    kind = "tags" if ref_type is RefType.TAG else "heads"
    first = repo.commit({"a": "1\n"})
    repo.git("update-ref", f"refs/{kind}/deploy/x", first)
    assert mirror_fetch(tmp_path, repo, first, "deploy/x", ref_type).method == "commit"
    repo.git("update-ref", "-d", f"refs/{kind}/deploy/x")
    second = repo.commit({"a": "2\n"})
    repo.git("update-ref", f"refs/{kind}/deploy", second)
    assert mirror_fetch(tmp_path, repo, second, "deploy", ref_type).method == "commit"
    repo.git("update-ref", "-d", f"refs/{kind}/deploy")
    repo.git("update-ref", f"refs/{kind}/deploy/x", second)
    repo.commit({"a": "3\n"})
    old = repo.commit({"a": "4\n"})
    tip = repo.commit({"a": "5\n"})
    repo.git("update-ref", f"refs/{kind}/deploy/x", tip)  # ``old`` is under it, at no tip:
    repo.git("reset", "-q", "--hard", second)  # protocol v0 has the ref fetched instead
    assert mirror_fetch(tmp_path, repo, old, "deploy/x", ref_type, v0=True).method == "ref"


def mirror_fetch(tmp_path, repo, sha, name, ref_type, v0=False):
    config = (("protocol.version", "0"),) if v0 else ()
    mirror = Mirror(tmp_path / "mirrors" / "stale", {"PATH": os.environ["PATH"]}, config)
    return mirror.fetch_commit(GitSource(repo.url, sha, ref_type, name), deadline())
