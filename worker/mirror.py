"""The exact commit, fetched into a warm bare mirror.

One bare mirror per repository lives under ``<workdir>/mirrors/<name>``. A build takes the mirror's
lock, asks the git host for exactly the commit it builds (``fetch --depth=1 <url> <sha>``: its tree
and none of its history, and only objects the mirror does not have; a rebuild of a commit the
mirror already has fetches nothing), and falls back to fetching the ref when the host
refuses to send an unadvertised object. The commit is then checked (peeled through GitPython's
object model, ``<sha>^{commit}`` must be the sha itself) and exported with ``git archive``
(worker/export.py): no ``.git``, no checkout, never a branch tip. Every git process goes through
core/gitcmd.py's hardened GitPython runner.

A tag build may carry the id of an annotated tag object instead of its commit (Bitbucket Server
names only the tag object when a push updates several refs, and older Servers always do): the tag
object is fetched, its ref ``refs/tags/<name>`` as fetched from the host must point at that very
object, and the commit it peels to is built. A branch build of anything but a commit is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.events import RefType
from core.gitcmd import (
    Git,
    GitResult,
    GitTimeoutError,
    UnsafeGitError,
    check_safe_remote,
    failure_reason,
    url_host,
)
from core.gitnames import full_ref, is_commit_id, is_short_name
from worker.commits import peel_to_commit
from worker.deadline import Deadline
from worker.errors import CheckoutError, MissingCommitError, WorkerError
from worker.export import export_commit

LOCAL_COMMAND_SECONDS = 120.0  # cap for git commands that do not touch the network
SHALLOW_REFUSED = re.compile(r"shallow|depth", re.IGNORECASE)  # a host that cannot fetch --depth

# Attributes in $GIT_DIR/info/attributes win over the repository's own .gitattributes: the
# exported context holds exactly the committed files, as a checkout would.
MIRROR_ATTRIBUTES = "* -export-ignore -export-subst\n"

MIRROR_REFS = "refs/autobuild"  # the mirror's refs: never the host's names (see local_ref)

LogFn = Callable[[str], None]


def validate_sha(sha: str) -> str:
    """``sha`` if it is a full commit id (40 or 64 lowercase hex digits)."""
    if not is_commit_id(sha):
        raise WorkerError(f"The build's commit {sha!r} is not a full commit id")
    return sha


def valid_ref_name(name: str) -> bool:
    """A usable branch or tag name (without ``refs/heads/``): see :mod:`core.gitnames`."""
    return is_short_name(name)


def mirror_name(provider: str, repository: str, clone_url: str) -> str:
    """A directory name for the repository's mirror: readable, safe, and different when the
    clone URL changes."""
    slug = re.sub(r"[^a-z0-9._-]+", "_", repository.lower()).strip("._") or "repository"
    digest = hashlib.sha256(clone_url.encode()).hexdigest()[:12]
    return f"{provider}-{slug[:80]}-{digest}"


# --- the mirror ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitSource:
    """What to fetch: a commit, and the ref it was pushed to (for the fallback fetch)."""

    clone_url: str
    commit: str
    ref_type: RefType
    ref_name: str
    host_ref: str = ""  # a pull request's ref at the host (worker/pullsource.py); "": by type

    @property
    def short(self) -> str:
        return self.commit[:7]

    @property
    def ref(self) -> str:
        """The ref at the host (``refs/heads/<name>``, ``refs/tags/<name>`` or a pull ref)."""
        return self.host_ref or full_ref(self.ref_type, self.ref_name)

    @property
    def local_ref(self) -> str:
        """Where the mirror keeps what was fetched for this ref: one flat name per host ref
        (``/`` encoded), so ``deploy/x`` and ``deploy`` never stand in each other's way."""
        kind = {RefType.TAG: "tags", RefType.PULL_REQUEST: "pulls"}.get(self.ref_type, "heads")
        return f"{MIRROR_REFS}/{kind}/{quote(self.ref_name, safe='')}"


@dataclass(frozen=True)
class FetchResult:
    method: str  # "present" (nothing fetched), "commit" (by sha) or "ref" (fallback)
    peeled: str | None = None  # a tag build's annotated tag object: the commit it points to

    @property
    def fetched(self) -> bool:
        return self.method != "present"


class Mirror:
    """A bare repository that accumulates the objects of every build of one repository."""

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str],
        extra_config: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.git = Git(environ, git_dir=path, extra_config=extra_config)

    @classmethod
    def for_repository(
        cls,
        workdir: Path,
        provider: str,
        repository: str,
        clone_url: str,
        environ: Mapping[str, str],
        extra_config: tuple[tuple[str, str], ...] = (),
    ) -> Mirror:
        root = workdir / "mirrors"
        return cls(root / mirror_name(provider, repository, clone_url), environ, extra_config)

    def with_environ(self, extra: Mapping[str, str]) -> Mirror:
        """The same mirror, its git commands seeing ``extra`` too (a deploy key's ssh command)."""
        if not extra:
            return self
        return Mirror(self.path, {**self.git.environ, **extra}, self.git.extra_config)

    @contextlib.contextmanager
    def locked(self, deadline: Deadline, log: LogFn | None = None) -> Iterator[None]:
        """Hold the mirror exclusively (other builds of the repository wait for it)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            waiting = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting and log is not None:
                        log(
                            "Waiting for another build of this repository"
                            " to finish with the git mirror"
                        )
                    waiting = True
                    deadline.touch()  # waiting for another build is not this build's silence
                    deadline.check("waiting for the git mirror")
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def initialized(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def _run(
        self, args: list[str], deadline: Deadline, activity: str, cap: float | None
    ) -> GitResult:
        try:
            return self.git.run(args, timeout=deadline.backstop(cap), stop=lambda: deadline.expired)
        except GitTimeoutError as exc:
            if deadline.expired:
                raise deadline.error(activity) from None
            raise CheckoutError(f"{exc} while {activity}") from None

    def ensure(self, deadline: Deadline, object_format: str = "sha1") -> bool:
        """Create the bare mirror if it is not there (or was left half-made); True if created."""
        if self.initialized:
            return False
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        args = ["init", "--bare", "--quiet"]
        if object_format != "sha1":
            args.append(f"--object-format={object_format}")
        result = Git(self.git.environ).run([*args, "--", str(self.path)], LOCAL_COMMAND_SECONDS)
        if not result.ok:
            raise CheckoutError(f"Could not create the git mirror: {failure_reason(result.stderr)}")
        (self.path / "info").mkdir(exist_ok=True)
        (self.path / "info" / "attributes").write_text(MIRROR_ATTRIBUTES)
        return True

    def resolve_commit(self, sha: str, deadline: Deadline) -> str | None:
        """What ``<sha>^{commit}`` names in the mirror, or None when it does not have it:
        peeled through GitPython's object model (SHA-1), or by ``rev-parse`` (SHA-256)."""
        if len(sha) == 40:
            deadline.check("checking the commit")
            return peel_to_commit(self.git, sha)
        result = self._run(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{sha}^{{commit}}"],
            deadline,
            "checking the commit",
            LOCAL_COMMAND_SECONDS,
        )
        return result.stdout.strip() if result.ok and result.stdout.strip() else None

    def has_commit(self, sha: str, deadline: Deadline) -> bool:
        resolved = self.resolve_commit(sha, deadline)
        if resolved is not None and resolved != sha:
            raise WorkerError(
                f"{sha} names a tag, not a commit; builds need the commit id ({resolved})"
            )
        return resolved == sha

    def _has_source(self, source: GitSource, deadline: Deadline) -> str | None:
        """The commit to build for ``source`` if the mirror has it, else None: the commit id
        itself, or for a tag build the commit an annotated tag object peels to (any other
        build of a tag object is refused by :meth:`has_commit`)."""
        if source.ref_type is RefType.TAG:
            return self.resolve_commit(source.commit, deadline)
        return source.commit if self.has_commit(source.commit, deadline) else None

    def ref_target(self, ref: str, deadline: Deadline) -> str | None:
        """The object ``ref`` points at in the mirror (not peeled), or None."""
        result = self._run(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", ref],
            deadline,
            f"reading {ref}",
            LOCAL_COMMAND_SECONDS,
        )
        return result.stdout.strip() if result.ok and result.stdout.strip() else None

    def _fetch(
        self, source: GitSource, refspec: str, deadline: Deadline, depth: int | None = None
    ) -> GitResult:
        shallow = [f"--depth={depth}"] if depth else []
        try:
            check_safe_remote(source.clone_url, [refspec])
        except UnsafeGitError as exc:
            raise CheckoutError(
                f"Could not fetch commit {source.short} from {url_host(source.clone_url)}: {exc}"
            ) from None
        return self._run(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-recurse-submodules",
                "--no-write-fetch-head",
                *shallow,
                "--",
                source.clone_url,
                refspec,
            ],
            deadline,
            f"fetching commit {source.short} from {url_host(source.clone_url)}",
            None,
        )

    def _fetch_shallow(self, source: GitSource, refspec: str, deadline: Deadline) -> GitResult:
        # Depth 1: the commit and its tree, never its history (the mirror's first fetch costs
        # what `git clone --depth 1` does); objects the mirror has are not sent again.
        result = self._fetch(source, refspec, deadline, depth=1)
        if not result.ok and SHALLOW_REFUSED.search(result.stderr):  # e.g. dumb HTTP
            result = self._fetch(source, refspec, deadline)
        return result

    def fetch_commit(
        self, source: GitSource, deadline: Deadline, log: LogFn | None = None
    ) -> FetchResult:
        """Make sure the mirror has ``source.commit``: fetch it by id, or else fetch its ref.
        For a tag build whose id is an annotated tag object, the result names the commit it
        peels to (``peeled``), once the tag's ref at the host is seen to point at that object."""
        sha = validate_sha(source.commit)
        self.ensure(deadline, "sha256" if len(sha) == 64 else "sha1")
        method, commit = self._fetch_into_mirror(source, deadline, log)
        if commit == sha:
            return FetchResult(method)
        self._verify_tag_ref(source, ref_fetched=method == "ref", deadline=deadline)
        return FetchResult(method, peeled=commit)

    def _verify_tag_ref(self, source: GitSource, *, ref_fetched: bool, deadline: Deadline) -> None:
        """``source.commit`` is a tag object: the tag's ref, as fetched from the host, must point
        at it, so a delivery cannot have an unrelated tag object (and its commit) built as this
        tag."""
        host = url_host(source.clone_url)
        what = f"tag {source.ref_name}"
        if not valid_ref_name(source.ref_name):
            raise WorkerError(f"Cannot check tag {source.ref_name!r} at {host}: not a tag name")
        if not ref_fetched:
            fetched = self._fetch_shallow(source, f"+{source.ref}:{source.local_ref}", deadline)
            if not fetched.ok:
                raise CheckoutError(
                    f"Could not fetch {what} from {host} to check its tag object {source.short}:"
                    f" {failure_reason(fetched.stderr)}"
                )
        target = self.ref_target(source.local_ref, deadline)
        if target != source.commit:
            raise MissingCommitError(
                f"Tag object {source.short} is not {what} at {host} any more (it points to"
                f" {(target or 'nothing')[:7]}; was the tag moved?)"
            )

    def _fetch_into_mirror(
        self, source: GitSource, deadline: Deadline, log: LogFn | None
    ) -> tuple[str, str]:
        """How ``source.commit`` came into the mirror (a FetchResult method), and the commit
        to build for it (see :meth:`_has_source`)."""
        sha = source.commit
        if commit := self._has_source(source, deadline):
            return "present", commit
        host = url_host(source.clone_url)
        ref_ok = valid_ref_name(source.ref_name)
        local_ref = source.local_ref if ref_ok else f"{MIRROR_REFS}/commits/{sha}"
        first = self._fetch_shallow(source, f"+{sha}:{local_ref}", deadline)
        if first.ok and (commit := self._has_source(source, deadline)):
            return "commit", commit
        if not ref_ok:
            reason = failure_reason(first.stderr) if not first.ok else "the commit was not sent"
            raise CheckoutError(f"Could not fetch commit {source.short} from {host}: {reason}")
        if log is not None:
            log(
                f"{host} did not send commit {source.short} by itself;"
                f" fetching {source.ref} instead"
            )
        second = self._fetch(source, f"+{source.ref}:{source.local_ref}", deadline)
        if not second.ok:
            raise CheckoutError(
                f"Could not fetch commit {source.short} from {host}:"
                f" {failure_reason(second.stderr)}"
            )
        commit = self._has_source(source, deadline)
        if not commit:
            kind = "tag" if source.ref_type is RefType.TAG else "branch"
            where = source.host_ref or f"{kind} {source.ref_name}"
            raise MissingCommitError(
                f"Commit {source.short} is not on {where} at {host} any more"
                " (was the ref force-pushed?)"
            )
        return "ref", commit

    def fetch_ref_commit(self, source: GitSource, deadline: Deadline) -> str:
        """Fetch ``source.ref`` (the caller holds the lock) and return the commit it names."""
        self.ensure(deadline)
        host = url_host(source.clone_url)
        fetched = self._fetch_shallow(source, f"+{source.ref}:{source.local_ref}", deadline)
        if not fetched.ok:
            raise CheckoutError(
                f"Could not fetch {source.ref} from {host}: {failure_reason(fetched.stderr)}"
            )
        target = self.ref_target(source.local_ref, deadline)
        if not target:
            raise MissingCommitError(f"{host} sent nothing for {source.ref}")
        return target

    def export(
        self,
        sha: str,
        destination: Path,
        deadline: Deadline,
        paths: Sequence[str] = (),
        max_bytes: int = 0,
    ) -> None:
        """Write the files of commit ``sha`` (or those under ``paths``) into ``destination``
        (``git archive | tar -x``), stopping past ``max_bytes`` of archive (0: no limit)."""
        export_commit(self.git, validate_sha(sha), destination, deadline, paths, max_bytes)
