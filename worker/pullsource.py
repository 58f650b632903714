"""Where a build's commit is fetched from: the configured clone URL and the ref holding it.

A push build fetches its branch or tag. A pull request build fetches the host's pull ref
(``refs/pull/N/head``, ``refs/merge-requests/N/head``, ``refs/pull-requests/N/from``) from the
*configured* clone URL, never from a URL the payload names. Bitbucket Cloud has no pull refs:
a pull request from a fork is fetched from the fork's clone URL, and only when that URL is on
the configured clone URL's host (same scheme too); otherwise the build is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from buildrules.model import Repository
from core.build import BuildRecord
from core.gitcmd import url_host
from core.gitnames import is_commit_id
from worker.deadline import Deadline
from worker.errors import CheckoutError
from worker.mirror import GitSource, Mirror


def git_source(repository: Repository, record: BuildRecord) -> GitSource:
    """What the clone phase fetches for ``record``."""
    pull = record.pull_request
    if pull is None:
        return GitSource(
            repository.clone_url, record.commit, record.source_type, record.source_name
        )
    url = repository.clone_url
    if pull.fork_clone_url is not None:
        url = _same_host_url(repository.clone_url, pull.fork_clone_url, pull.number)
    return GitSource(url, record.commit, record.source_type, record.source_name, pull.fetch_ref)


def _same_host_url(configured: str, fork: str, number: int) -> str:
    ours, theirs = urlsplit(configured), urlsplit(fork)
    if (
        ours.scheme != theirs.scheme
        or not ours.hostname
        or (ours.hostname or "").lower() != (theirs.hostname or "").lower()
        or ours.port != theirs.port
        or theirs.username
        or theirs.password
    ):
        raise CheckoutError(
            f"Pull request #{number} comes from a fork at {url_host(fork)}, which is not the "
            f"configured clone URL's host {url_host(configured)}; it is not fetched."
        )
    return fork


def resolve_abbreviated(mirror: Mirror, source: GitSource, deadline: Deadline) -> GitSource:
    """``source`` with its full commit id. Bitbucket Cloud names a pull request's head commit by
    12 hex digits: the head ref is fetched, and the commit it points at must start with them."""
    if is_commit_id(source.commit):
        return source
    with mirror.locked(deadline):
        full = mirror.fetch_ref_commit(source, deadline)
    if not full.startswith(source.commit):
        raise CheckoutError(
            f"The pull request's head {source.host_ref} at {url_host(source.clone_url)} is at "
            f"{full[:12]} now, not {source.commit}; a newer commit will be built by its own event."
        )
    return GitSource(source.clone_url, full, source.ref_type, source.ref_name, source.host_ref)
