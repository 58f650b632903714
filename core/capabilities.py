"""What a worker offers and what a build needs, and which build queue joins the two.

A worker offers platforms (``linux/amd64``, and those its daemon can emulate) and labels
(``autobuild worker --label big-memory``); a build needs each platform of its ``platforms:`` and
each label of its ``runs_on:`` (``BuildRecord.needs``, sorted, fixed when the build is recorded so
retries and requeues go the same way). A build with no needs goes to the build queue itself
(``AUTOBUILD_QUEUE``); one with needs goes to ``<queue>:needs:<needs joined by ','>``, and the
needs in use are listed in a set (:func:`needs_key`) from which each worker picks the queues it
can serve (:mod:`core.needsqueues`). Platforms hold a '/', labels never do (buildrules.runson).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NEEDS_SEPARATOR = ","
# ``docker info``'s Architecture (uname -m) -> the OCI name; others are already OCI names
DAEMON_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


@dataclass(frozen=True)
class Capabilities:
    """What one worker offers: the platforms it builds and its labels."""

    platforms: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    @property
    def offers(self) -> tuple[str, ...]:
        return (*self.platforms, *self.labels)

    def can_run(self, needs: Iterable[str]) -> bool:
        return not unmet(self.offers, needs)


def daemon_platform(os_type: str | None, architecture: str | None) -> str:
    """The platform a daemon runs natively, from ``docker info``'s OSType and Architecture."""
    arch = (architecture or "").strip().lower()
    return f"{(os_type or 'linux').strip().lower()}/{DAEMON_ARCH.get(arch, arch)}"


def is_platform(need: str) -> bool:
    return "/" in need


def covers(offer: str, need: str) -> bool:
    """Whether an offer meets a need: the same, or a platform without variant meeting each of
    its variants (``linux/arm`` meets ``linux/arm/v7``)."""
    return offer == need or (is_platform(offer) and need.startswith(offer + "/"))


def unmet(offers: Iterable[str], needs: Iterable[str]) -> tuple[str, ...]:
    """The needs that no offer meets, in order."""
    offered = tuple(offers)
    return tuple(need for need in needs if not any(covers(o, need) for o in offered))


def needs_text(needs: Sequence[str]) -> str:
    """How the queue names, the API and the pages write a set of needs."""
    return NEEDS_SEPARATOR.join(sorted(needs))


def needs_from_text(text: str) -> tuple[str, ...]:
    return tuple(sorted(n for n in text.split(NEEDS_SEPARATOR) if n))


def queue_name_for(base: str, needs: Sequence[str]) -> str:
    """The rq queue of builds with ``needs``: ``base`` itself when there are none."""
    return f"{base}:needs:{needs_text(needs)}" if needs else base


def needs_key(base: str) -> str:
    """The Redis set of every needs text queued on ``base`` (one member per needs queue)."""
    return f"autobuild:needs-sets:{base}"


def display_order(needs: Iterable[str]) -> list[str]:
    """Platforms first, then labels, each sorted: ``linux/arm64, big-memory``."""
    return sorted(needs, key=lambda need: (not is_platform(need), need))


def waiting_reason(needs: Sequence[str], workers: Sequence[Capabilities]) -> str | None:
    """Why a queued build with ``needs`` waits when no live worker can run it (one sentence), or
    None when one can (it waits for its turn, not for a worker)."""
    if any(worker.can_run(needs) for worker in workers):
        return None
    if not workers:
        return "No worker is running; the build starts when one does."
    nowhere = [n for n in display_order(needs) if all(unmet(w.offers, (n,)) for w in workers)]
    head = (
        f"No worker offers {', '.join(nowhere)}"
        if nowhere
        else f"No one worker offers all of {', '.join(display_order(needs))}"
    )
    offered = sorted({", ".join(display_order(w.offers)) or "nothing" for w in workers})
    return f"{head}; workers offer: {'; '.join(offered)}."
