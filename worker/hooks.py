"""Docker Hub's build hooks: find one, check it, run it in the fence (:mod:`worker.sandbox`).

A hook is ``hooks/<name>`` beside the Dockerfile; its working directory is the Dockerfile's
folder. We make the hooks executable (Hub did ``chmod -R +x hooks``), refuse a hook without a
``#!`` line or one that leads outside the checkout, and fail the build when it exits non-zero:
``<name> hook failed (exit N)``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from worker.checkout import BuildContext
from worker.errors import UserBuildError
from worker.sandbox import Fence, bwrap_executable, check_sandbox, fence_argv, run_fenced

HOOK_NAMES = (
    "post_checkout",
    "pre_build",
    "build",
    "post_build",
    "pre_test",
    "test",
    "post_test",
    "pre_push",
    "push",
    "post_push",
)
HOOKS_DIR = "hooks"


@dataclass(frozen=True)
class HookScript:
    """A hook found in the checkout: its name, its file on the host, and where it runs."""

    name: str
    path: Path
    checkout: Path  # the exported repository
    workdir: PurePosixPath  # the Dockerfile's folder, relative to the checkout


def dockerfile_folder(checkout: BuildContext) -> Path:
    return (checkout.directory / checkout.dockerfile).parent


def find_hook(checkout: BuildContext, name: str) -> HookScript | None:
    """``hooks/<name>`` beside the Dockerfile, or None when there is none."""
    folder = dockerfile_folder(checkout)
    path = folder / HOOKS_DIR / name
    if not os.path.lexists(path):
        return None
    root = checkout.root.resolve()
    return HookScript(name, path, root, PurePosixPath(folder.resolve().relative_to(root)))


def make_executable(hook: HookScript) -> None:
    """Check the hook stays in the checkout and starts with ``#!``; make it executable."""
    resolved = hook.path.resolve()
    shown = f"{HOOKS_DIR}/{hook.name}"
    if not resolved.is_relative_to(hook.checkout) or not resolved.is_file():
        raise UserBuildError(f"The hook {shown} is not a file inside the repository")
    with resolved.open("rb") as script:
        if script.read(2) != b"#!":
            raise UserBuildError(
                f"Could not run the hook {shown}: it is missing a #! line (like #!/bin/sh)"
            )
    mode = os.lstat(resolved).st_mode
    if stat.S_ISREG(mode):
        os.chmod(resolved, mode | stat.S_IXUSR)  # the fence runs it as its owner


def run_hook(
    hook: HookScript,
    fence: Fence,
    on_line: Callable[[str], None],
    check: Callable[[], None],
) -> None:
    """Run ``hook`` in ``fence``; a non-zero exit is the user's build failing."""
    make_executable(hook)
    executable = bwrap_executable()
    check_sandbox(executable)
    argv = fence_argv(fence, [f"./{HOOKS_DIR}/{hook.name}"], executable)
    status = run_fenced(argv, fence.variables(), on_line, check)
    if status < 0:
        raise UserBuildError(f"{hook.name} hook failed (killed by signal {-status})")
    if status != 0:
        raise UserBuildError(f"{hook.name} hook failed (exit {status})")
