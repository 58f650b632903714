"""Turning the ways people write refs into a ref type and a short name."""

from __future__ import annotations

from core.events import RefType

_PREFIXES = (("refs/heads/", RefType.BRANCH), ("refs/tags/", RefType.TAG))


def parse_ref(ref: str) -> tuple[RefType, str]:
    """``refs/heads/x`` → (branch, x); ``refs/tags/v1`` → (tag, v1); a bare name is a branch.

    Raises ValueError for an empty name or another ``refs/`` namespace (``refs/pull/1/head``).
    """
    for prefix, ref_type in _PREFIXES:
        if ref.startswith(prefix):
            name = ref[len(prefix) :]
            if not name:
                raise ValueError(f"{ref!r} names no branch or tag")
            return ref_type, name
    if ref.startswith("refs/"):
        raise ValueError(f"{ref!r} is neither a branch (refs/heads/...) nor a tag (refs/tags/...)")
    if not ref:
        raise ValueError("the ref is empty")
    return RefType.BRANCH, ref


def parse_source_type(value: str) -> RefType:
    """``branch``/``tag``/``pull_request`` in any case (Docker Hub writes ``Branch``/``Tag``),
    else ValueError. A ``pull_request`` rule's source names the pull request's base branch."""
    try:
        return RefType(value.strip().lower())
    except ValueError:
        raise ValueError(
            f"source type must be 'branch', 'tag' or 'pull_request', not {value!r}"
        ) from None
