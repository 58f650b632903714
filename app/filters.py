"""The status filter of the build lists, parsed one way for the API and the UI.

``status=queued,building`` names statuses, comma-separated; blanks around names and empty items
(``success,``) are skipped. An unknown name is refused, by the API with a 400 answer and by the
dashboard with a 400 page, each saying which names are known: a typo that silently showed every
build would look like a filter that matched.
"""

from __future__ import annotations

from core.build import BuildStatus


class UnknownStatusError(ValueError):
    """A status filter names a status that does not exist."""

    def __init__(self, name: str) -> None:
        known = ", ".join(status.value for status in BuildStatus)
        super().__init__(f"Unknown status {name!r}; use one of {known}.")
        self.name = name


def parse_statuses(raw: str | None) -> tuple[BuildStatus, ...]:
    """The statuses ``raw`` names, in order, each once; ``()`` when it names none."""
    statuses: list[BuildStatus] = []
    for item in (raw or "").split(","):
        name = item.strip()
        if not name:
            continue
        try:
            status = BuildStatus(name)
        except ValueError:
            raise UnknownStatusError(name) from None
        if status not in statuses:
            statuses.append(status)
    return tuple(statuses)
