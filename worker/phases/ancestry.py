"""The commit graph for the push phase's tag order check (:mod:`worker.tagorder`): the
repository's git mirror answers whether one commit is an ancestor of another."""

from __future__ import annotations

from worker.ancestry import CommitHistory
from worker.errors import WorkerError
from worker.mirror import Mirror
from worker.phases.base import PhaseEnv
from worker.tagorder import Ancestry


def mirror_ancestry(env: PhaseEnv) -> Ancestry:
    """``ancestry(a, b)``: True when commit ``a`` is ``b`` or an ancestor of it, False when it is
    not, None when the mirror cannot tell (see :mod:`worker.ancestry`)."""
    context, repository = env.context, env.repository
    mirror = Mirror.for_repository(
        context.settings.workdir,
        repository.provider,
        repository.name,
        repository.clone_url,
        context.settings.environ,
        context.git_config,
    )
    history = CommitHistory(mirror, repository.clone_url, env.deadline)

    def ancestry(ancestor: str, descendant: str) -> bool | None:
        try:
            return history.is_ancestor(ancestor, descendant)
        except WorkerError:
            return None

    return ancestry
