"""The ``hooks`` and ``env`` keys of a repository (Docker Hub's build hooks and build
environment variables; docs/hooks.md).

``hooks: true`` runs the repository's ``hooks/`` scripts (default false: a hook is code from the
repository with access to the build's Docker daemon). ``env:`` holds the build environment
variables exported to hooks and tests (never build args): ``NAME: value`` for a plain value,
``NAME_env: VARIABLE`` for a secret read from the worker's environment variable ``VARIABLE``
(the value never appears in the YAML). ``DOCKER_BUILDKIT: 0`` also makes the default build use the
legacy builder, as on Docker Hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from buildrules.values import ENV_NAME_RE, check_env_name
from buildrules.yamlnodes import Entry, NodeReader

HOOK_KEYS = ("hooks", "env")
SECRET_SUFFIX = "_env"
# Names the build sets itself (docs/hooks.md) or the sandbox needs: env: cannot replace them.
RESERVED_NAMES = frozenset(
    {
        "SOURCE_BRANCH",
        "SOURCE_COMMIT",
        "COMMIT_MSG",
        "DOCKER_REPO",
        "DOCKERFILE_PATH",
        "DOCKER_TAG",
        "IMAGE_NAME",
        "CACHE_TAG",
        "BUILD_PATH",
        "BUILD_CODE",
        "SOURCE_TYPE",
        "SOURCE_URL",
        "PUSH",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "PATH",
        "HOME",
    }
)


@dataclass(frozen=True)
class EnvVar:
    """One ``env:`` entry: ``name`` is exported with ``value``, or (a secret) with the value of
    the worker's environment variable ``secret_env``."""

    name: str
    value: str = ""
    secret_env: str | None = None

    @property
    def secret(self) -> bool:
        return self.secret_env is not None


def legacy_requested(env: tuple[EnvVar, ...]) -> bool:
    """True when ``env:`` sets ``DOCKER_BUILDKIT`` to 0 (or false): Docker Hub's switch to the
    legacy builder."""
    for var in env:
        if var.name == "DOCKER_BUILDKIT" and not var.secret:
            return var.value.strip().lower() in ("0", "false")
    return False


def read_hook_keys(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """``hooks`` and ``env`` where written, checked: ``{"hooks": True, "env": (EnvVar, ...)}``."""
    found: dict[str, Any] = {}
    if "hooks" in entries:
        flag = reader.boolean(entries["hooks"].value, "hooks")
        if flag is not None:
            found["hooks"] = flag
    if "env" in entries:
        env = read_env(reader, entries["env"].value)
        if env is not None:
            found["env"] = env
    return found


def read_env(reader: NodeReader, node: yaml.Node) -> tuple[EnvVar, ...] | None:
    """``env: {NAME: value, NAME_env: VARIABLE}``; each name once, none of the reserved ones."""
    entries = reader.mapping(node, "env")
    if entries is None:
        return None
    found: dict[str, EnvVar] = {}
    for key, entry in entries.items():
        secret = key.endswith(SECRET_SUFFIX) and len(key) > len(SECRET_SUFFIX)
        name = key[: -len(SECRET_SUFFIX)] if secret else key
        if not ENV_NAME_RE.fullmatch(name):
            reader.add(entry.key_node, f"env name {key!r} must be letters, digits and '_'")
            continue
        if name in RESERVED_NAMES:
            reader.add(entry.key_node, f"env cannot set {name}: the build sets it itself")
            continue
        if name in found:
            reader.add(entry.key_node, f"env sets {name} twice (as {name} and {name}_env)")
            continue
        text = reader.string(entry.value, f"env {key}", allow_empty=not secret)
        if text is None:
            continue
        if not secret:
            found[name] = EnvVar(name, text)
            continue
        try:
            found[name] = EnvVar(name, secret_env=check_env_name(text.strip(), f"env {key}"))
        except ValueError as exc:
            reader.add(entry.value, str(exc))
    return tuple(found.values())
