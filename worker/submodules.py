"""The submodules a commit pins, fetched into the repository's mirror and exported beside it.

Git's own submodule machinery (``git submodule update``, ``clone --recurse-submodules``) is never
used: it runs commands named in ``.gitmodules`` (``update = !cmd``) and clones with the URL as
written. Instead, for ``submodules: true`` (or ``recursive``):

- the commit's gitlinks (mode 160000 entries of ``ls-tree``) name each submodule's path and the
  commit the superproject pins; ``.gitmodules`` of that same commit, read as a blob with
  ``git config --blob`` (no includes), names its URL;
- a relative URL (``../other.git``) resolves against the superproject's URL, as git does, and
  every URL then passes the same check as a ``clone_url`` (``buildrules.values.check_clone_url``:
  allowed transports only, no remote helper, no leading ``-``, no credentials or query tokens) and
  GitPython's guards in :meth:`worker.mirror.Mirror.fetch_commit`; a ``file://`` URL only when
  the superproject's own URL is ``file://`` (else a repository could name another repository's
  mirror on the worker's disk);
- the pinned commit is fetched into the superproject's mirror (``fetch --depth=1 <url> <sha>``
  through the hardened runner, under the build's deadline) and exported into the submodule's
  directory with the same size accounting as the superproject (``AUTOBUILD_MAX_EXPORT_BYTES``
  counts all of them together).

``recursive`` repeats this for the submodules' own submodules, their relative URLs resolving
against the submodule's URL (git's rule), up to :data:`MAX_SUBMODULES` in all.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from buildrules.values import check_clone_url
from core.events import RefType
from core.gitcmd import GitTimeoutError, url_host
from worker.containment import ContextTooLargeError, human_size
from worker.deadline import Deadline
from worker.errors import CheckoutError, ContextError
from worker.export import LOCAL_COMMAND_SECONDS, list_tree
from worker.mirror import GitSource, Mirror

MAX_SUBMODULES = 100  # in all, nested ones included: a bound on what one build fetches
GITLINK_MODE = "160000"
_SCP_PREFIX = re.compile(r"^(?P<prefix>(?:[^@/:]+@)?[^/:]+:)(?!//)")

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class Pin:
    """A submodule to export: where (relative to the repository root), which commit, from where."""

    path: str
    commit: str
    url: str


def resolve_url(base: str, url: str) -> str:
    """A submodule URL as git resolves it: ``./x`` and ``../x`` are relative to ``base`` (the
    superproject's URL, each ``../`` taking one component off its path); others are unchanged.
    ValueError when ``../`` climbs above the base's host or root."""
    if not (url.startswith("./") or url.startswith("../") or url in (".", "..")):
        return url
    prefix, path = _split_base(base.rstrip("/"))
    parts = [part for part in path.split("/")]
    leading = path.startswith("/")
    remaining = url.split("/")
    while remaining and remaining[0] in (".", ".."):
        step = remaining.pop(0)
        if step == "..":
            if not [p for p in parts if p]:
                raise ValueError(f"the relative URL {url!r} climbs above {url_host(base)}")
            parts.pop()
    joined = "/".join([p for p in parts if p] + [p for p in remaining if p])
    return prefix + ("/" if leading else "") + joined


def _split_base(base: str) -> tuple[str, str]:
    """``(scheme://host or user@host:, path)`` of a clone URL."""
    if "://" in base:
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}", parts.path
    match = _SCP_PREFIX.match(base)
    if match:
        return match.group("prefix"), base[match.end() :]
    return "", base  # a plain path (not a configured form, but git accepts it)


def checked_url(base: str, url: str, path: str, commit: str) -> str:
    """``url`` of submodule ``path`` resolved against ``base`` and checked like a clone URL; a
    refused URL fails the build with a sentence (the URL itself is not repeated: it may hold a
    token)."""
    try:
        resolved = check_clone_url(resolve_url(base, url))
        if _is_local(resolved) and not _is_local(base):
            raise ValueError(
                "its URL names a repository on the worker (file://), allowed only when the"
                " repository itself is local"
            )
    except ValueError as exc:
        reason = str(exc).replace("clone_url", "its URL")
        raise ContextError(
            f"Submodule {path} (in commit {commit[:7]}) is refused: {reason}"
        ) from None
    return resolved


def _is_local(url: str) -> bool:
    """A ``file://`` URL: a repository on the worker's own disk (its mirrors among them)."""
    return url.lower().startswith("file:")


def gitlinks(mirror: Mirror, commit: str, deadline: Deadline) -> list[tuple[str, str]]:
    """``(path, pinned commit)`` of every submodule in ``commit``'s tree."""
    result = _run(mirror, ["ls-tree", "-r", "-z", "--end-of-options", commit], deadline, commit)
    found = []
    for entry in result.split("\0"):
        meta, _, name = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[0] == GITLINK_MODE and fields[1] == "commit":
            found.append((name, fields[2]))
    return found


def gitmodules_urls(mirror: Mirror, commit: str, deadline: Deadline) -> dict[str, str]:
    """``{path: url}`` from ``.gitmodules`` in ``commit`` (empty when it has none)."""
    try:
        text = _run(
            mirror,
            ["config", "--no-includes", "--null", "--list", "--blob", f"{commit}:.gitmodules"],
            deadline,
            commit,
        )
    except CheckoutError:
        return {}
    paths: dict[str, str] = {}
    urls: dict[str, str] = {}
    for item in text.split("\0"):
        key, _, value = item.partition("\n")
        section, _, rest = key.partition(".")
        name, _, field = rest.rpartition(".")
        if section != "submodule" or not name:
            continue
        if field == "path":
            paths[name] = value.strip("/")
        elif field == "url":
            urls[name] = value
    return {path: urls[name] for name, path in paths.items() if name in urls}


def _run(mirror: Mirror, args: list[str], deadline: Deadline, commit: str) -> str:
    try:
        result = mirror.git.run(
            args, deadline.backstop(LOCAL_COMMAND_SECONDS), lambda: deadline.expired
        )
    except GitTimeoutError:
        raise deadline.error(f"reading the submodules of commit {commit[:7]}") from None
    if not result.ok:
        raise CheckoutError(f"Could not read the submodules of commit {commit[:7]}")
    return result.stdout


def _inside(path: str, where: str) -> bool:
    return where == "." or path == where or path.startswith(where + "/")


def fetch_submodules(
    mirror: Mirror,
    clone_url: str,
    commit: str,
    *,
    where: str,
    recursive: bool,
    deadline: Deadline,
    log: LogFn | None = None,
) -> tuple[Pin, ...]:
    """Fetch the submodules of ``commit`` under ``where`` (``.``: all) into ``mirror``, with
    their own submodules when ``recursive``; the pins in the order to export them."""
    pins: list[Pin] = []
    pending = [(commit, clone_url, "")]
    while pending:
        parent, base, prefix = pending.pop(0)
        links = [
            (posixpath.join(prefix, p) if prefix else p, sha, p)
            for p, sha in gitlinks(mirror, parent, deadline)
        ]
        links = [link for link in links if _inside(link[0], where) or _inside(where, link[0])]
        if not links:
            continue
        urls = gitmodules_urls(mirror, parent, deadline)
        for path, sha, own in links:
            if own not in urls:
                raise ContextError(
                    f"Submodule {path} (in commit {parent[:7]}) has no URL in .gitmodules"
                )
            url = checked_url(base, urls[own], path, parent)
            if len(pins) >= MAX_SUBMODULES:
                raise ContextError(f"Commit {commit[:7]} has more than {MAX_SUBMODULES} submodules")
            found = Pin(path, sha, url)
            _fetch_pin(mirror, found, deadline, log)
            pins.append(found)
            if recursive:
                pending.append((sha, url, path))
    return tuple(pins)


def _fetch_pin(mirror: Mirror, pin: Pin, deadline: Deadline, log: LogFn | None) -> None:
    # By id only: a gitlink names no ref to fall back on.
    source = GitSource(pin.url, pin.commit, RefType.BRANCH, "")
    try:
        fetched = mirror.fetch_commit(source, deadline)
    except CheckoutError as exc:
        raise type(exc)(f"Submodule {pin.path}: {exc}") from None
    if log is not None:
        how = "fetched" if fetched.fetched else "already in the mirror"
        log(f"Submodule {pin.path}: commit {pin.commit[:7]} from {url_host(pin.url)} {how}")


def export_submodules(
    mirror: Mirror,
    pins: tuple[Pin, ...],
    root: Path,
    deadline: Deadline,
    *,
    budget: int = 0,
    used: int = 0,
) -> None:
    """Export every pin into its directory under ``root``; ``budget`` (0: no limit) counts the
    superproject's ``used`` bytes and every submodule's together."""
    base = root.resolve()
    listings = [list_tree(mirror.git, pin.commit, ".", deadline) for pin in pins]
    total = used + sum(listing.size for listing in listings)
    if budget and total > budget:
        raise ContextTooLargeError(
            f"The files to export with {len(pins)} submodule(s) are {human_size(total)};"
            f" the limit is {human_size(budget)} (AUTOBUILD_MAX_EXPORT_BYTES)"
        )
    for pin, listing in zip(pins, listings, strict=True):
        target = (base / pin.path).resolve()
        if not target.is_relative_to(base) or (target.exists() and not target.is_dir()):
            raise ContextError(f"Submodule {pin.path} does not lead to a directory of its own")
        cap = listing.archive_bytes if budget else 0
        mirror.export(pin.commit, target, deadline, (), cap)
