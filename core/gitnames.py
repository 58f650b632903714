"""Git's names and ids, in one place: commit ids, zero ids, ref names with the reason a name is
refused, and ``refs/heads/`` / ``refs/tags/`` split from the short name.

Every name that comes from a payload, a trigger body or a build record passes through here before
git is asked anything, so git never sees a name it would refuse or read as an option. The rules
are ``git check-ref-format``'s, and a little stricter: unprintable characters (any Unicode
category Python does not print) are refused too, and a branch or tag may not start with ``-``.

``cli/git_hook.py`` keeps a standalone copy of the ref-name rule (it is installed on git servers
without this package); tests/unit/test_gitnames.py runs both, and git itself, over one table.
"""

from __future__ import annotations

import re

from core.events import ZERO_SHA, RefType

COMMIT_ID_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256, use with fullmatch
ZERO_ID_SHA1 = ZERO_SHA
ZERO_ID_SHA256 = "0" * 64
ZERO_IDS = frozenset({ZERO_ID_SHA1, ZERO_ID_SHA256})
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"

_FORBIDDEN = frozenset(" ~^:?*[\\")


def is_commit_id(value: object) -> bool:
    """True for a full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits, nothing else
    (no surrounding space, no newline)."""
    return isinstance(value, str) and COMMIT_ID_RE.fullmatch(value) is not None


def is_zero_id(value: str) -> bool:
    """The all-zero id a host sends for "no commit" (a ref created or deleted)."""
    return value in ZERO_IDS


def ref_name_problem(ref: str) -> str | None:
    """Why ``ref`` is not a valid ref name under ``git check-ref-format`` (applied to a full ref
    such as ``refs/heads/main`` or to a short one such as ``main``), or None."""
    if not ref:
        return "it is empty"
    if not ref.isprintable():
        return "it contains control or unprintable characters"
    bad = sorted(set(ref) & _FORBIDDEN)
    if bad:
        return "it contains " + " ".join(repr(c) for c in bad)
    if ".." in ref:
        return "it contains '..'"
    if "@{" in ref:
        return "it contains '@{'"
    if ref == "@":
        return "it is '@'"
    if ref.startswith("/") or ref.endswith("/") or "//" in ref:
        return "it has an empty path component"
    if ref.endswith("."):
        return "it ends with '.'"
    for component in ref.split("/"):
        if component.startswith("."):
            return "a component starts with '.'"
        if component.endswith(".lock"):
            return "a component ends with '.lock'"
    return None


def short_name_problem(name: str) -> str | None:
    """Why ``name`` is not usable as a branch or tag name (without ``refs/heads/``), or None: the
    ref-name rules, and it must not start with ``-`` (so it can never be read as an option)."""
    if name.startswith("-"):
        return "it starts with '-'"
    return ref_name_problem(name)


def is_short_name(name: object) -> bool:
    """True when ``name`` is a usable branch or tag name (see :func:`short_name_problem`)."""
    return isinstance(name, str) and short_name_problem(name) is None


def full_ref(ref_type: RefType, name: str) -> str:
    """``refs/heads/<name>`` or ``refs/tags/<name>``."""
    return (TAG_PREFIX if ref_type is RefType.TAG else BRANCH_PREFIX) + name


def split_ref(ref: str) -> tuple[RefType, str] | None:
    """``refs/heads/x`` -> (branch, ``x``), ``refs/tags/x`` -> (tag, ``x``); None for any other
    ref (``refs/notes/...``, ``refs/changes/...``). The name is not checked here."""
    for prefix, ref_type in ((BRANCH_PREFIX, RefType.BRANCH), (TAG_PREFIX, RefType.TAG)):
        if ref.startswith(prefix):
            return ref_type, ref[len(prefix) :]
    return None
