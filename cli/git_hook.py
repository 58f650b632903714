"""``autobuild git-hook``: a post-receive hook that reports a push to a plain git server.

Git runs ``hooks/post-receive`` after a push with one ``<old> <new> <ref>`` line per updated ref on
stdin. For every branch or tag that was created or moved this hook works out, in the repository
itself, the commit, the changed files (``git diff --name-only`` between old and new; unknown for a
new ref) and the head commit's message, then POSTs one signed JSON document to
``<url>/webhooks/git`` (the format is described in :mod:`app.hosts.git`) and prints the queued
builds' addresses to the pusher.

It never fails the push: an unreachable service, a refusal or any other problem is a warning on
stderr and the exit status is 0. It uses only the standard library and imports nothing from
Autobuild, so this one file can also be copied to a git server and run with ``python3``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

SECRET_ENV = "AUTOBUILD_HOOK_SECRET"
URL_ENV = "AUTOBUILD_URL"
REPOSITORY_ENV = "AUTOBUILD_REPOSITORY"
SIGNATURE_HEADER = "X-Autobuild-Signature"
DEFAULT_TIMEOUT = 10.0
MAX_CHANGED_FILES = 10_000  # more than this: sent as unknown, which lets every path filter pass
MAX_ANSWER_BYTES = 1024 * 1024
MAX_REF_LENGTH = 255

_SHA_RE = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})")
_ZERO_RE = re.compile(r"0+")
_REF_FORBIDDEN = frozenset(" ~^:?*[\\")
_UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class HookError(Exception):
    """A problem that stops the notification; reported as a warning, never as a failed push."""


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "git-hook",
        help="post-receive hook for plain git servers: report a push to Autobuild",
        description=(
            "Reads post-receive lines ('<old> <new> <ref>') from stdin, sends the pushed branches "
            f"and tags to URL/webhooks/git signed with ${SECRET_ENV}, and prints the queued "
            "builds. Always exits 0."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        help=f"Autobuild's base URL, e.g. https://autobuild.example.com (default: ${URL_ENV})",
    )
    parser.add_argument(
        "--repository",
        default=None,
        help=f"the repository's name as configured with provider: git (default: ${REPOSITORY_ENV})",
    )
    parser.add_argument(
        "--timeout",
        default=str(DEFAULT_TIMEOUT),
        help=f"seconds to wait for Autobuild (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--git-dir",
        default=None,
        help="the repository (default: the one git runs the hook in)",
    )


def run(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The hook. Whatever happens, returns 0: a push must never fail because of Autobuild."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    env = environ if environ is not None else os.environ
    try:
        if stdin is not None:
            lines = stdin.read().splitlines()
        else:
            with _stdin() as source:
                lines = source.read().splitlines()
        notify(args, lines, env, out, err)
    except HookError as exc:
        _warn(err, str(exc))
    except Exception as exc:  # the push must succeed whatever went wrong here
        _warn(err, f"unexpected problem ({type(exc).__name__}: {exc}); no build was queued")
    return 0


def _stdin() -> TextIO:
    # Ref names are bytes to git; undecodable ones survive as surrogates and are then refused.
    return open(sys.stdin.fileno(), encoding="utf-8", errors="surrogateescape", closefd=False)


def _warn(err: TextIO, message: str) -> None:
    print(f"autobuild: warning: {_printable(message)}", file=err)


def _printable(text: str) -> str:
    """Text safe to show on the pusher's terminal: control characters replaced."""
    return _UNPRINTABLE_RE.sub("?", text)


def notify(
    args: argparse.Namespace,
    lines: Sequence[str],
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
) -> None:
    base_url = _base_url(args.url or environ.get(URL_ENV, ""))
    repository = (args.repository or environ.get(REPOSITORY_ENV, "")).strip()
    if not repository:
        raise HookError(f"no repository name: pass --repository or set {REPOSITORY_ENV}")
    timeout = _timeout(args.timeout)
    secret = environ.get(SECRET_ENV, "")
    if not secret:
        raise HookError(f"{SECRET_ENV} is not set, so the push cannot be signed; nothing was sent")

    updates = parse_updates(lines, err)
    git_dir: str | None = args.git_dir
    pushes = [push for update in updates if (push := describe(update, git_dir, err)) is not None]
    if not pushes:
        print("autobuild: no branch or tag was created or updated; nothing to build", file=out)
        return
    document = {
        "repository": repository,
        "delivery_id": str(uuid.uuid4()),
        "timestamp": int(time.time()),  # the web refuses documents older than 5 minutes
        "pushes": pushes,
    }
    answer = send(base_url, document, secret, timeout)
    report(base_url, answer, out)


def _base_url(value: str) -> str:
    value = value.strip()
    if not value:
        raise HookError(f"no Autobuild URL: pass --url or set {URL_ENV}")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HookError(f"the Autobuild URL must start with http:// or https://, not {value!r}")
    return value.rstrip("/")


def _timeout(value: str) -> float:
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        raise HookError(f"--timeout must be a number of seconds, not {value!r}") from None
    if not 0 < timeout <= 600:
        raise HookError("--timeout must be between 0 and 600 seconds")
    return timeout


# --- reading the push ----------------------------------------------------------------------------


def ref_name_problem(ref: str) -> str | None:
    """Why ``ref`` is not a full ref name git would create (check-ref-format rules), or None."""
    if not ref or len(ref) > MAX_REF_LENGTH:
        return "empty or too long"
    if not ref.isprintable() or set(ref) & _REF_FORBIDDEN:
        return "contains a forbidden character"
    if ".." in ref or "@{" in ref or ref == "@" or ref.endswith(".") or "//" in ref:
        return "contains '..', '@{', '//' or ends with '.'"
    if ref.startswith("/") or ref.endswith("/"):
        return "starts or ends with '/'"
    if any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/")):
        return "has a component starting with '.' or ending with '.lock'"
    return None


def parse_updates(lines: Iterable[str], err: TextIO) -> list[RefUpdate]:
    """The branch and tag updates among post-receive lines; deletions and other refs dropped."""
    updates: list[RefUpdate] = []
    for line in lines:
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            _warn(err, f"skipped a line that is not '<old> <new> <ref>': {line[:200]!r}")
            continue
        old, new, ref = fields
        if not _SHA_RE.fullmatch(old) or not _SHA_RE.fullmatch(new):
            _warn(err, f"skipped {ref[:200]!r}: the old or new value is not a full commit id")
            continue
        problem = ref_name_problem(ref)
        if problem is not None:
            _warn(err, f"skipped a ref whose name git would refuse ({problem}): {ref[:200]!r}")
            continue
        if _ZERO_RE.fullmatch(new):
            continue  # a deletion: nothing to build
        short = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        if short == ref or not short or short.startswith("-"):
            continue  # not a branch or tag (refs/notes/..., refs/changes/...), or a hostile name
        updates.append(RefUpdate(old=old, new=new, ref=ref))
    return updates


def _git(git_dir: str | None, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = ["git"] + (["--git-dir", git_dir] if git_dir else []) + list(args)
    return subprocess.run(command, capture_output=True, check=False, timeout=120)


def describe(update: RefUpdate, git_dir: str | None, err: TextIO) -> dict[str, Any] | None:
    """One entry of ``pushes``: the update, the commit it peels to, changed files, message."""
    peeled = _git(git_dir, "rev-parse", "--verify", "--quiet", f"{update.new}^{{commit}}")
    commit = peeled.stdout.decode("ascii", "replace").strip()
    if peeled.returncode != 0 or not _SHA_RE.fullmatch(commit):
        _warn(err, f"skipped {update.ref}: {update.new} is not a commit in this repository")
        return None
    created = bool(_ZERO_RE.fullmatch(update.old))
    return {
        "ref": update.ref,
        "before": None if created else update.old,
        "after": update.new,
        "commit": commit,
        "changed_files": None if created else changed_files(update.old, update.new, git_dir),
        "head_message": head_message(commit, git_dir),
    }


def changed_files(old: str, new: str, git_dir: str | None) -> list[str] | None:
    """Paths that differ between the two trees (renames as both paths); None if unknown.

    A tree diff is exact even for forced pushes, unlike a host's commit list.
    """
    diff = _git(
        git_dir, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", old, new, "--"
    )
    if diff.returncode != 0:
        return None
    paths = [p.decode("utf-8", "surrogateescape") for p in diff.stdout.split(b"\0") if p]
    if len(paths) > MAX_CHANGED_FILES:
        return None
    # JSON cannot carry undecodable bytes; a path that is not UTF-8 makes the list unknown.
    if any(any("\udc80" <= c <= "\udcff" for c in p) for p in paths):
        return None
    return paths


def head_message(commit: str, git_dir: str | None) -> str:
    shown = _git(git_dir, "log", "-1", "--format=%B", commit)
    if shown.returncode != 0:
        return ""
    return shown.stdout.decode("utf-8", "replace").rstrip("\n")


# --- talking to Autobuild ------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send(base_url: str, document: Mapping[str, Any], secret: str, timeout: float) -> Any:
    """POST the signed document; the decoded JSON answer, or a :class:`HookError`."""
    body = json.dumps(document).encode("utf-8")
    endpoint = f"{base_url}/webhooks/git"
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked: http or https only
        endpoint,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "autobuild-git-hook/1",
            SIGNATURE_HEADER: sign(secret, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        detail = _answer_detail(exc.read(MAX_ANSWER_BYTES))
        raise HookError(
            f"Autobuild answered {exc.code} {exc.reason}{': ' + detail if detail else ''}; "
            "no build was queued"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HookError(
            f"could not reach Autobuild at {endpoint} ({reason}); the push went through, "
            "but no build was queued"
        ) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HookError("Autobuild's answer was not JSON; the builds could not be listed") from None


def _answer_detail(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict):
        for key in ("error", "message", "ignored"):
            if isinstance(data.get(key), str):
                return str(data[key])[:300]
    return text[:300]


def report(base_url: str, answer: Any, out: TextIO) -> None:
    """Print each build's address, or why nothing was queued."""
    if not isinstance(answer, dict):
        print("autobuild: the push was received", file=out)
        return
    builds = answer.get("builds")
    reason = answer.get("ignored")
    if isinstance(reason, str):
        print(f"autobuild: nothing new queued: {_printable(reason)}", file=out)
    if isinstance(builds, list):
        for build in builds:
            if isinstance(build, dict) and build.get("id") is not None:
                print(f"autobuild: {_describe_build(base_url, build)}", file=out)
    elif not isinstance(reason, str):
        print("autobuild: the push was received", file=out)


def _describe_build(base_url: str, build: Mapping[str, Any]) -> str:
    build_id = urllib.parse.quote(str(build["id"]), safe="")
    words = ["build"]
    for key in ("source_type", "source_name"):
        if isinstance(build.get(key), str):
            words.append(build[key])
    tags = build.get("docker_tags")
    if isinstance(tags, list) and tags:
        words.append("-> " + ", ".join(str(tag) for tag in tags))
    if isinstance(build.get("status"), str):
        words.append(f"({build['status']})")
    return _printable(f"{' '.join(words)}: {base_url}/builds/{build_id}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run as a script (``python3 git_hook.py --url ... --repository ...``) without Autobuild."""
    parser = argparse.ArgumentParser(
        prog="git_hook.py", description="Report a push to Autobuild (a post-receive hook)."
    )
    add_arguments(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _warn(sys.stderr, f"ignored unknown arguments: {' '.join(unknown)}")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
