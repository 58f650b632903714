"""The build context: the exact commit fetched into the repository's mirror (worker/mirror.py),
exported into a temporary directory (worker/export.py) and checked: the context directory and the
Dockerfile must exist and stay inside the exported repository. The commit's message and dates are
read on the way (worker/commits.py) for build arguments and templates. The exported files are
removed, in the background, when the build is done with them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.deploykey import DeployKey, deploy_key
from worker.commits import CommitInfo, read_commit
from worker.containment import ContextTooLargeError, human_size
from worker.deadline import Deadline
from worker.errors import ContextError
from worker.export import TreeListing, list_tree
from worker.mirror import FetchResult, GitSource, LogFn, Mirror, validate_sha
from worker.submodules import Pin, export_submodules, fetch_submodules

__all__ = [
    "BuildContext",
    "FetchResult",
    "GitSource",
    "Mirror",
    "checkout_context",
    "discard",
    "normalize_context",
    "normalize_dockerfile",
    "resolve_build_context",
]

PRESENT = FetchResult("present")  # nothing fetched
TRASH_DIR = "trash"  # beside the scratch directory: exported contexts being deleted


def _relative_path(value: str, what: str, *, allow_root: bool) -> PurePosixPath:
    if "\x00" in value or "\\" in value:
        raise ContextError(
            f"The {what} {value!r} contains characters that are not allowed in a path"
        )
    stripped = value.strip()
    if allow_root:
        stripped = stripped.lstrip("/")
    elif stripped.startswith("/"):
        raise ContextError(f"The {what} {value!r} must be a path relative to the build context")
    path = PurePosixPath(stripped or ".")
    if ".." in path.parts:
        raise ContextError(f"The {what} {value!r} must stay inside the repository (no '..')")
    if not allow_root and str(path) == ".":
        raise ContextError(f"The {what} {value!r} does not name a file")
    return path


def normalize_context(context: str) -> PurePosixPath:
    """The context as a path relative to the repository root: ``/`` and ``""`` are the root,
    ``sub/dir`` and ``/sub/dir`` the directory; ``..`` anywhere is refused."""
    return _relative_path(context, "build context", allow_root=True)


def normalize_dockerfile(dockerfile: str) -> PurePosixPath:
    """The Dockerfile as a path relative to the context; absolute paths and ``..`` are refused."""
    return _relative_path(dockerfile or "Dockerfile", "Dockerfile path", allow_root=False)


# --- the build context ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildContext:
    """An exported commit ready for ``docker build``."""

    root: Path  # the exported repository (temporary)
    directory: Path  # the build context inside it
    dockerfile: str  # for the Docker SDK: relative to ``directory``, or absolute when outside it
    commit: str  # the commit exported (for a tag object, the commit it peels to)
    fetch: FetchResult
    info: CommitInfo | None = None  # its message and dates (None for a SHA-256 repository)


def resolve_build_context(
    root: Path, context: str, dockerfile: str, sha: str, fetch: FetchResult = PRESENT
) -> BuildContext:
    """Find the context directory and the Dockerfile in an exported commit; both must exist and
    stay inside it (symbolic links included)."""
    context_rel = normalize_context(context)
    dockerfile_rel = normalize_dockerfile(dockerfile)
    base = root.resolve()
    directory = (base / context_rel).resolve()
    shown = "/" if str(context_rel) == "." else str(context_rel)
    if not directory.is_relative_to(base):
        raise ContextError(f"The build context {shown} points outside the repository")
    if not directory.is_dir():
        raise ContextError(f"The build context {shown} does not exist in commit {sha[:7]}")
    path = (directory / dockerfile_rel).resolve()
    if not path.is_relative_to(base):
        raise ContextError(f"The Dockerfile {dockerfile_rel} points outside the repository")
    if not path.is_file():
        raise ContextError(
            f"There is no Dockerfile {dockerfile_rel} in the build context {shown}"
            f" of commit {sha[:7]}"
        )
    relative = str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)
    return BuildContext(
        root=root, directory=directory, dockerfile=relative, commit=sha, fetch=fetch
    )


@contextlib.contextmanager
def checkout_context(
    mirror: Mirror,
    source: GitSource,
    *,
    context: str,
    dockerfile: str,
    scratch_dir: Path,
    deadline: Deadline,
    log: LogFn | None = None,
    max_bytes: int = 0,
    submodules: str = "false",
    ssh_key: DeployKey | None = None,
) -> Iterator[BuildContext]:
    """Fetch ``source.commit`` into the mirror, export it (or the commit its annotated tag object
    peels to, for a tag build: ``commit`` of the context), and yield the build context; the
    exported files are removed when the block ends, whatever happens. More than ``max_bytes``
    of files to export (0: no limit) fail the build before anything is written.

    ``submodules`` (``false``, ``true`` or ``recursive``) exports the submodules the commit pins
    (worker/submodules.py); ``ssh_key`` is a deploy key git's fetches use (core/deploykey.py),
    on disk only while they run."""
    validate_sha(source.commit)
    normalize_context(context)  # refuse bad paths before any network work
    normalize_dockerfile(dockerfile)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="context-", dir=scratch_dir))
    try:
        with mirror.locked(deadline, log):
            with deploy_key(ssh_key, scratch_dir) as ssh_env:
                fetching = mirror.with_environ(ssh_env)
                fetch = fetching.fetch_commit(source, deadline, log)
                commit = fetch.peeled or source.commit
                pins: tuple[Pin, ...] = ()
                if submodules != "false":
                    pins = fetch_submodules(
                        fetching,
                        source.clone_url,
                        commit,
                        where=_export_root(mirror, commit, context, dockerfile, deadline),
                        recursive=submodules == "recursive",
                        deadline=deadline,
                        log=log,
                    )
            used = export_context(
                mirror, commit, context, dockerfile, root / "src", deadline, max_bytes
            )
            if pins:
                export_submodules(mirror, pins, root / "src", deadline, budget=max_bytes, used=used)
            info = read_commit(mirror.git, commit)
        found = resolve_build_context(root / "src", context, dockerfile, commit, fetch)
        yield dataclasses.replace(found, info=info)
    finally:
        discard(root)


def export_context(
    mirror: Mirror,
    sha: str,
    context: str,
    dockerfile: str,
    destination: Path,
    deadline: Deadline,
    max_bytes: int = 0,
) -> int:
    """Export what a build of ``sha`` needs: the context directory alone, or the whole tree when
    the context is the root or a symbolic link leads to it or to its Dockerfile (links are
    resolved in the export, as before). Over ``max_bytes`` of files nothing is written. Returns
    the bytes of files exported (0 when ``max_bytes`` is 0: not counted)."""
    where = str(normalize_context(context))
    listing = list_tree(mirror.git, sha, where, deadline) if max_bytes or where != "." else None
    whole = _exports_whole(where, listing, dockerfile)
    if whole and where != "." and max_bytes:
        listing = list_tree(mirror.git, sha, ".", deadline)
    cap = 0
    if max_bytes and listing is not None:
        if listing.size > max_bytes:
            raise ContextTooLargeError(
                f"The files to export from commit {sha[:7]} are {human_size(listing.size)};"
                f" the limit is {human_size(max_bytes)} (AUTOBUILD_MAX_EXPORT_BYTES; it counts"
                " the files before .dockerignore)"
            )
        cap = listing.archive_bytes
    mirror.export(sha, destination, deadline, () if whole else (where,), cap)
    return listing.size if max_bytes and listing is not None else 0


def _exports_whole(where: str, listing: TreeListing | None, dockerfile: str) -> bool:
    inside = posixpath.join(where, str(normalize_dockerfile(dockerfile)))
    return where == "." or listing is None or not listing.files or _linked(listing, inside)


def _export_root(
    mirror: Mirror, sha: str, context: str, dockerfile: str, deadline: Deadline
) -> str:
    """The directory of ``sha`` :func:`export_context` writes (``.``: the whole tree)."""
    where = str(normalize_context(context))
    if where == ".":
        return where
    listing = list_tree(mirror.git, sha, where, deadline)
    return "." if _exports_whole(where, listing, dockerfile) else where


def _linked(listing: TreeListing, path: str) -> bool:
    """Whether ``path`` or a directory on the way to it is a symbolic link in ``listing``."""
    return any(path == link or path.startswith(link + "/") for link in listing.links)


def discard(root: Path) -> None:
    """Take an exported context out of the way at once and delete it in the background: the build
    goes on to its push without waiting for thousands of unlinks (30-50 ms for a few hundred
    files). It is renamed into ``trash/`` beside the scratch directory; whatever a process that
    ends meanwhile leaves there, the next build's deletion removes."""
    trash = root.parent.parent / TRASH_DIR
    try:
        trash.mkdir(exist_ok=True)
        root.rename(trash / root.name)
    except OSError:
        shutil.rmtree(root, ignore_errors=True)
        return
    threading.Thread(target=_empty, args=(trash,), name="autobuild-trash", daemon=True).start()


def _empty(trash: Path) -> None:
    with contextlib.suppress(OSError):
        for leftover in list(trash.iterdir()):
            shutil.rmtree(leftover, ignore_errors=True)
