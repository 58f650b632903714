"""The configuration as typed, frozen values: what the loader produces and everyone else reads."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.events import RefType

PROVIDERS = ("github", "bitbucket", "gitlab", "gitea", "git")

DEFAULT_TIMEOUT_SECONDS = 60 * 60
DEFAULT_NO_OUTPUT_TIMEOUT_SECONDS = 20 * 60


class SourceKind(enum.StrEnum):
    LITERAL = "literal"
    REGEX = "regex"


@dataclass(frozen=True)
class Location:
    """Where a value was written: for error messages that name file and line."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PathFilter:
    include: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.include or self.ignore)


@dataclass(frozen=True)
class BuildRule:
    source_type: RefType
    source: str  # as written: a name, or /regex/
    docker_tags: tuple[str, ...]  # templates, one per tag
    dockerfile: str = "Dockerfile"
    context: str = "/"
    build_args: tuple[tuple[str, str], ...] = ()  # (name, template) pairs, in file order
    autobuild: bool = True
    build_caching: bool = True
    paths: PathFilter = field(default_factory=PathFilter)
    location: Location | None = field(default=None, compare=False)

    @property
    def source_kind(self) -> SourceKind:
        return SourceKind.REGEX if is_regex_source(self.source) else SourceKind.LITERAL

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if self.source_kind is SourceKind.REGEX:
            return re.compile(self.source[1:-1])
        return None


def is_regex_source(source: str) -> bool:
    return len(source) >= 2 and source.startswith("/") and source.endswith("/")


@dataclass(frozen=True)
class RegistryAuth:
    host: str
    username_env: str | None = None
    password_env: str | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Repository:
    provider: str
    name: str  # as the git host reports it; compared case-insensitively
    clone_url: str
    image: str  # registry/repository, no tag
    build_rules: tuple[BuildRule, ...]
    webhook_secret_env: str | None = None
    trigger_token_env: str | None = None
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    no_output_timeout_seconds: int = DEFAULT_NO_OUTPUT_TIMEOUT_SECONDS
    location: Location | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.name.lower())

    @property
    def registry_host(self) -> str:
        return registry_host_of(self.image)

    @property
    def image_path(self) -> str:
        """The repository part of the image, without the registry host."""
        host = self.registry_host
        return self.image[len(host) + 1 :] if self.image.startswith(host + "/") else self.image


def registry_host_of(image: str) -> str:
    """The registry host of an image reference, Docker's way (no dot/colon → Docker Hub)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


@dataclass(frozen=True)
class Config:
    repositories: tuple[Repository, ...] = ()
    registries: tuple[RegistryAuth, ...] = ()
    sources: tuple[Path, ...] = ()

    def find_repository(self, provider: str, name: str) -> Repository | None:
        wanted = (provider, name.lower())
        for repository in self.repositories:
            if repository.key == wanted:
                return repository
        return None

    def registry_auth(self, host: str) -> RegistryAuth | None:
        for registry in self.registries:
            if registry.host == host:
                return registry
        return None

    def secret_env_names(self) -> tuple[str, ...]:
        """Every environment variable the configuration names as holding a secret."""
        names: list[str] = []
        for repository in self.repositories:
            names += [n for n in (repository.webhook_secret_env, repository.trigger_token_env) if n]
        for registry in self.registries:
            names += [n for n in (registry.username_env, registry.password_env) if n]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class BuildPlan:
    """One build that a push (or a manual trigger) asks for: a commit built once, tagged many."""

    provider: str
    repository: str  # the configured name
    image: str
    source_type: RefType
    source_name: str
    commit: str
    docker_tags: tuple[str, ...]
    dockerfile: str
    context: str
    build_args: tuple[tuple[str, str], ...] = ()
    build_caching: bool = True
    rule_indexes: tuple[int, ...] = ()
