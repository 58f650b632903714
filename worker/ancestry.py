"""Which of two commits is newer, asked of a repository's git mirror (``git merge-base
--is-ancestor``), for the push phase's tag order check (:mod:`worker.tagorder`).

The mirror fetches each build's commit at depth 1, so the history between two commits is
usually missing and ``merge-base`` cannot see that one descends from the other. When the mirror
is shallow and the answer is "no", the descendant's history back to a day before the other
commit's date is fetched (``--shallow-since``) and the question asked again. Anything the
mirror still cannot answer (a commit it lacks, the host unreachable) is None: "cannot tell".
"""

from __future__ import annotations

from core.gitcmd import GitTimeoutError, UnsafeGitError, check_safe_remote
from core.gitnames import is_commit_id
from worker.deadline import Deadline
from worker.mirror import LOCAL_COMMAND_SECONDS, MIRROR_REFS, Mirror

HISTORY_MARGIN_SECONDS = 24 * 3600  # committer dates are not ordered exactly: fetch a bit more


class CommitHistory:
    """``is_ancestor(a, b)`` for one repository's mirror; fetches history from ``clone_url``
    when the shallow mirror lacks it."""

    def __init__(self, mirror: Mirror, clone_url: str, deadline: Deadline) -> None:
        self.mirror = mirror
        self.clone_url = clone_url
        self.deadline = deadline

    def is_ancestor(self, ancestor: str, descendant: str) -> bool | None:
        """True when ``ancestor`` is ``descendant`` or one of its ancestors, False when it is
        not, None when the mirror cannot tell."""
        if not (is_commit_id(ancestor) and is_commit_id(descendant)):
            return None
        if not self.mirror.initialized:
            return None
        answer = self._merge_base(ancestor, descendant)
        if answer is not False or not (self.mirror.path / "shallow").exists():
            return answer
        since = self._commit_time(ancestor)
        if since is None:
            return None
        with self.mirror.locked(self.deadline):
            if not self._fetch_history(descendant, since - HISTORY_MARGIN_SECONDS):
                return None
        return self._merge_base(ancestor, descendant)

    def _git(self, args: list[str], cap: float) -> tuple[int, str] | None:
        try:
            result = self.mirror.git.run(
                args, timeout=self.deadline.backstop(cap), stop=lambda: self.deadline.expired
            )
        except GitTimeoutError:
            return None
        return result.returncode, result.stdout

    def _merge_base(self, ancestor: str, descendant: str) -> bool | None:
        ran = self._git(
            ["merge-base", "--is-ancestor", ancestor, descendant], LOCAL_COMMAND_SECONDS
        )
        return None if ran is None else {0: True, 1: False}.get(ran[0])

    def _commit_time(self, commit: str) -> int | None:
        ran = self._git(["show", "-s", "--format=%ct", commit, "--"], LOCAL_COMMAND_SECONDS)
        if ran is None or ran[0] != 0 or not ran[1].strip().isdigit():
            return None
        return int(ran[1].strip())

    def _fetch_history(self, commit: str, since: int) -> bool:
        refspec = f"+{commit}:{MIRROR_REFS}/commits/{commit}"
        try:
            check_safe_remote(self.clone_url, [refspec])
        except UnsafeGitError:
            return False
        args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules"]
        args += ["--no-write-fetch-head", f"--shallow-since={since}", "--", self.clone_url, refspec]
        ran = self._git(args, self.deadline.remaining())
        return ran is not None and ran[0] == 0
