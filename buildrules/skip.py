"""Skip markers: text in a head commit message that asks for no build."""

from __future__ import annotations

import re

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[skip build]", "[build skip]", "[no ci]")

_MARKER_RE = re.compile("|".join(re.escape(marker) for marker in SKIP_MARKERS), flags=re.IGNORECASE)


def skip_marker(message: str | None) -> str | None:
    """The first skip marker in ``message`` (lowercased, e.g. ``"[skip ci]"``), or None.

    Markers are matched in any case (``[Skip CI]`` counts) but must be written exactly with one
    space, as GitHub and GitLab expect them.
    """
    if not message:
        return None
    found = _MARKER_RE.search(message)
    return found.group(0).lower() if found else None
