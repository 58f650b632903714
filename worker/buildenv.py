"""The build environment of hooks and tests: Docker Hub's variables and the repository's ``env:``.

Docker Hub's builder exported these to every hook and test (docs/hooks.md lists them); Autobuild
exports the same names with the same meanings:

- ``SOURCE_BRANCH`` (the branch *or tag* built), ``SOURCE_COMMIT``, ``COMMIT_MSG``;
- ``DOCKER_REPO`` (the image with its registry host, like Hub's ``index.docker.io/ns/repo``),
  ``DOCKER_TAG`` (the build's first tag: Hub gave a comma list for several, we give one name and
  push every tag), ``IMAGE_NAME`` (``$DOCKER_REPO:$DOCKER_TAG``), ``CACHE_TAG`` (the tag whose
  layers seed the cache: ``DOCKER_TAG`` with build caching, else empty);
- ``DOCKERFILE_PATH`` (relative to the context), ``BUILD_PATH`` (the context as configured);
- ``BUILD_CODE`` (the build id), ``SOURCE_TYPE=git``, ``SOURCE_URL`` (the clone URL without
  credentials), ``PUSH`` (``TRUE``: the build pushes);

then the repository's ``env:`` (plain values, and secrets read from the worker's environment: an
unset one fails the build naming it). :func:`build_environment` makes it once per attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from buildrules.model import Repository
from core.build import BuildRecord
from core.gitcmd import strip_credentials
from core.settings import Settings
from worker.checkout import BuildContext
from worker.errors import WorkerError
from worker.forksafety import untrusted


@dataclass(frozen=True)
class BuildEnvironment:
    """The variables hooks and tests get; ``secret_names`` are those whose values are secret."""

    variables: Mapping[str, str] = field(repr=False)
    secret_names: frozenset[str] = frozenset()

    @property
    def image_name(self) -> str:
        return self.variables["IMAGE_NAME"]


def hub_variables(
    record: BuildRecord, repository: Repository, checkout: BuildContext | None
) -> dict[str, str]:
    """Docker Hub's variables for ``record`` (its exported ``checkout``, once cloned)."""
    tag = record.docker_tags[0] if record.docker_tags else "latest"
    message = checkout.info.message.rstrip() if checkout is not None and checkout.info else ""
    return {
        "SOURCE_BRANCH": record.source_name,
        "SOURCE_COMMIT": checkout.commit if checkout is not None else record.commit,
        "COMMIT_MSG": message,
        "DOCKER_REPO": record.image,
        "DOCKERFILE_PATH": record.dockerfile or "Dockerfile",
        "DOCKER_TAG": tag,
        "IMAGE_NAME": f"{record.image}:{tag}",
        "CACHE_TAG": tag if record.build_caching else "",
        "BUILD_PATH": record.context or "/",
        "BUILD_CODE": record.id,
        "SOURCE_TYPE": "git",
        "SOURCE_URL": strip_credentials(repository.clone_url),
        "PUSH": "TRUE",
    }


def user_variables(
    repository: Repository, settings: Settings, *, with_secrets: bool = True
) -> tuple[dict[str, str], set[str]]:
    """The repository's ``env:`` values (the secret ones only ``with_secrets``), and the names of
    the secret ones."""
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for var in repository.env:
        if var.secret_env is None:
            values[var.name] = var.value
            continue
        if not with_secrets:
            continue
        value = settings.secret(var.secret_env)
        if value is None:
            raise WorkerError(
                f"env {var.name}_env names the environment variable {var.secret_env},"
                " which is not set on this worker"
            )
        values[var.name] = value
        secrets.add(var.name)
    return values, secrets


def build_environment(
    record: BuildRecord,
    repository: Repository,
    checkout: BuildContext | None,
    settings: Settings,
) -> BuildEnvironment:
    """Hub's variables, then the repository's ``env:`` (which cannot replace them); a fork's pull
    request gets the plain values only, never the secret ones (worker.forksafety)."""
    values, secrets = user_variables(repository, settings, with_secrets=not untrusted(record))
    return BuildEnvironment(
        {**values, **hub_variables(record, repository, checkout)}, frozenset(secrets)
    )
