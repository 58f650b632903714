"""Docker tag rules: what a valid tag is, and turning any rendered text into one.

Sanitising follows docker/metadata-action and adds the two rules it only documents:

1. every run of characters outside ``[A-Za-z0-9_.-]`` becomes one ``-`` (``feature/login`` →
   ``feature-login``);
2. leading ``.`` and ``-`` are removed (a tag must start with ``[A-Za-z0-9_]``);
3. a result longer than 128 characters is cut to 119 and given ``-`` plus the first 8 hex digits of
   the SHA-256 of the *unsanitised* text, so two long refs that share a prefix stay distinct;
4. an empty result (a ref made only of characters that cannot appear in a tag, or an empty
   optional regex group) becomes the fallback, ``sha-<short sha>``.
"""

from __future__ import annotations

import hashlib
import re

MAX_TAG_LENGTH = 128
HASH_SUFFIX_LENGTH = 8
TAG_CHARS = "A-Za-z0-9_.-"
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_INVALID_RUN = re.compile(rf"[^{TAG_CHARS}]+")


def is_valid_tag(tag: str) -> bool:
    """True when ``tag`` is a tag Docker and every OCI registry accept."""
    return TAG_RE.fullmatch(tag) is not None


def fallback_tag(commit: str) -> str:
    """The tag used when sanitising leaves nothing: ``sha-`` and the 7-character short SHA."""
    short = _INVALID_RUN.sub("", commit)[:7] or "unknown"
    return f"sha-{short}"


def sanitize_tag(text: str, *, fallback: str) -> str:
    """``text`` as a valid Docker tag (see the module docstring); ``fallback`` when nothing is left.

    ``fallback`` must itself be a valid tag (``fallback_tag(commit)`` is).
    """
    tag = _INVALID_RUN.sub("-", text).lstrip(".-")
    if not tag:
        return fallback
    if len(tag) > MAX_TAG_LENGTH:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        keep = MAX_TAG_LENGTH - HASH_SUFFIX_LENGTH - 1
        tag = f"{tag[:keep]}-{digest[:HASH_SUFFIX_LENGTH]}"
    return tag


def invalid_tag_chars(text: str) -> str:
    """The distinct characters of ``text`` that cannot appear in a tag, in order of appearance."""
    return "".join(dict.fromkeys(c for c in text if not re.fullmatch(f"[{TAG_CHARS}]", c)))
