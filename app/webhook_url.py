"""``POST /webhooks/<provider>/<owner>/<name>``: the repository named in the URL.

On ``/webhooks/<provider>`` the repository (and so the secret) is read from the body, which means
parsing up to ``AUTOBUILD_MAX_BODY_BYTES`` of JSON before any signature is checked. With the
repository in the URL, the signature is checked over the raw bytes first and an unsigned body
is never parsed. A signed body must still name the repository of its URL: a delivery signed
with one repository's secret cannot build another."""

from __future__ import annotations

from app.hosts.base import PayloadError
from buildrules.model import Repository
from core.events import Delivery


def check_named_repository(repository: Repository, delivery: Delivery, named: str | None) -> None:
    """Refuse a delivery whose events are for another repository than the URL names."""
    if named is None:
        return
    for event in delivery.events:
        if event.repository.lower() != repository.name.lower():
            raise PayloadError(
                f"The payload is for repository {event.repository!r}, but the URL names "
                f"{repository.name!r}."
            )
