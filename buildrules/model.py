"""The configuration as typed, frozen values: what the loader produces and everyone else reads."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from buildrules.hookfields import EnvVar
from buildrules.ruleregex import RulePattern, compile_rule_regex, rule_fullmatch
from buildrules.schedule import Schedule
from core import registry_address
from core.events import PullRequest, RefType
from core.registry_address import registry_host_of as registry_host_of  # its home; importable here

PROVIDERS = ("github", "bitbucket", "gitlab", "gitea", "git")

DEFAULT_TIMEOUT_SECONDS = 60 * 60
DEFAULT_NO_OUTPUT_TIMEOUT_SECONDS = 20 * 60
DEFAULT_MAX_CONCURRENT_BUILDS = 1
DEFAULT_RETRIES = 2
NETWORK_MODES = ("default", "none")  # "none": RUN steps get no network at all
AUTOTEST_MODES = ("internal", "all")  # which pull requests build: own branches only, or forks too


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
    """One build rule, as the loader normalised it.

    ``context`` is a path in the repository in the form ``/`` (the root) or ``/a/b`` (leading
    slash, no trailing slash, no ``..``); ``dockerfile`` is relative to the context
    (``a/Dockerfile``, no leading slash, no ``..``). ``docker_tags`` and build arg values are
    templates (see ``buildrules.templates``); BuildPlan carries them rendered.
    """

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
    # The image this rule pushes to; None: the repository's image (a monorepo sets one per rule).
    image: str | None = None
    builder: str | None = None  # buildkit | legacy; None: the repository's
    platforms: tuple[str, ...] | None = None  # None: the repository's
    runs_on: tuple[str, ...] | None = None  # worker labels needed; None: the repository's
    # Build secrets (id, name of the worker's environment variable holding the value), the
    # repository's merged in (the rule's id winning): RUN --mount=type=secret,id=ID reads them.
    secrets: tuple[tuple[str, str], ...] = ()
    schedule: Schedule | None = None  # also built on this clock (literal sources only)
    rebuild_on_base_change: bool | None = None  # None: the repository's
    latest_auto: bool = False  # latest: auto, "latest" for the highest release (buildrules.latest)
    push: bool = True  # false: build (and test), push nothing (Docker Hub's Autotest)

    @property
    def source_kind(self) -> SourceKind:
        return SourceKind.REGEX if is_regex_source(self.source) else SourceKind.LITERAL

    @property
    def pattern(self) -> RulePattern | None:
        if self.source_kind is SourceKind.REGEX:
            return compile_rule_regex(self.source[1:-1])
        return None


def is_regex_source(source: str) -> bool:
    return len(source) >= 2 and source.startswith("/") and source.endswith("/")


@dataclass(frozen=True)
class RegistryAuth:
    host: str
    username_env: str | None = None
    password_env: str | None = None
    location: Location | None = field(default=None, compare=False)


NOTIFY_EVENTS = (
    "build.queued",
    "build.started",
    "build.succeeded",
    "build.failed",
    "build.errored",
    "build.timed_out",
    "build.canceled",
    "build.superseded",
)
NOTIFY_FORMATS = ("json", "dockerhub")


@dataclass(frozen=True)
class NotifyTarget:
    """One ``notify:`` entry: an outgoing webhook (``url``) or an apprise target whose URL is in
    the environment variable ``apprise_env``. ``branches``/``tags`` are names or /regex/; with
    neither, every ref is notified; with either, only refs that match the one of their type."""

    events: tuple[str, ...]
    url: str | None = None
    apprise_env: str | None = None
    secret_env: str | None = None
    format: str = "json"
    branches: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    location: Location | None = field(default=None, compare=False)

    def wants_ref(self, source_type: RefType, source_name: str) -> bool:
        if not self.branches and not self.tags:
            return True
        patterns = self.branches if source_type is RefType.BRANCH else self.tags
        return any(_ref_matches(pattern, source_name) for pattern in patterns)


def _ref_matches(pattern: str, name: str) -> bool:
    if is_regex_source(pattern):
        return rule_fullmatch(pattern[1:-1], name) is not None
    return pattern == name


@dataclass(frozen=True)
class KeepPolicy:
    """Retention (``keep:``): the ``last`` tags Autobuild pushed most recently, and every tag a
    pattern in ``tags`` matches (a name, or a full-match ``/regex/``), keep their manifests."""

    last: int | None = None
    tags: tuple[str, ...] = ()

    def matches(self, tag: str) -> bool:
        for pattern in self.tags:
            if is_regex_source(pattern):
                if rule_fullmatch(pattern[1:-1], tag):
                    return True
            elif pattern == tag:
                return True
        return False


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
    max_concurrent_builds: int = DEFAULT_MAX_CONCURRENT_BUILDS  # builds of this repository at once
    cancel_running: bool = False  # a newer push to a ref cancels its running build, not only queued
    network: str = "default"  # one of NETWORK_MODES: the network RUN steps get
    memory: str | None = None  # memory limit per build, Docker's form ("2g", "512m"); None: none
    cpus: float | None = None  # CPU limit per build (1.5 = one and a half CPUs); None: none
    retries: int = DEFAULT_RETRIES  # automatic retries of a build that ended in `error`
    builder: str = "buildkit"  # buildkit | legacy (buildrules.builder); a rule may override it
    platforms: tuple[str, ...] = ()  # () : the worker's own platform, one image; else an index
    runs_on: tuple[str, ...] = ()  # worker labels a build needs (buildrules.runson)
    secrets: tuple[tuple[str, str], ...] = ()  # build secrets (id, env name); rules carry them too
    keep: KeepPolicy | None = None  # retention of its images (autobuild prune); None: keep all
    # Commit statuses on the git host (worker/notify/statuses.py) and notify: targets.
    status: bool = False
    status_token_env: str | None = None
    api_url: str | None = None  # the host's API root; None: the public host's
    status_context: str | None = None  # None: autobuild/<image>:<first tag>
    notify: tuple[NotifyTarget, ...] = ()
    rebuild_on_base_change: bool = False  # rebuild a literal rule when a FROM image changes
    # What a build fetches (buildrules.sourcekeys): the commit's submodules (false, true or
    # recursive), the variable holding an SSH deploy key, and fresh pulls of FROM images.
    submodules: str = "false"
    ssh_key_env: str | None = None
    pull: bool = False
    hooks: bool = False  # run the repository's hooks/ (buildrules.hookfields, docs/hooks.md)
    env: tuple[EnvVar, ...] = ()  # build environment variables for hooks and tests
    # AUTOTEST_MODES; None (not written): pull requests as "internal", pushes run no tests
    autotest: str | None = None
    pull_registries: tuple[str, ...] = ()  # registries whose credentials builds get, besides ours

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.name.lower())

    @property
    def registry_host(self) -> str:
        return registry_host_of(self.image)

    def secret_env_names(self) -> tuple[str, ...]:
        """The variables of this repository's own secrets: webhook, trigger, build, status, deploy
        key, env: and notify ones (what a build of it could have seen, with its registries'
        credentials)."""
        names = [n for n in (self.webhook_secret_env, self.trigger_token_env) if n]
        names += [env for _id, env in self.secrets]
        names += [env for rule in self.build_rules for _id, env in rule.secrets]
        names += [n for n in (self.status_token_env, self.ssh_key_env) if n]
        names += [var.secret_env for var in self.env if var.secret_env]
        names += _notify_env_names(self.notify)
        return tuple(dict.fromkeys(names))

    @property
    def image_path(self) -> str:
        """The repository part of the image, without the registry host."""
        return registry_address.image_path(self.image)

    def image_for(self, rule: BuildRule) -> str:
        """The image a rule pushes to: its own ``image`` or else the repository's."""
        return rule.image or self.image

    def builder_for(self, rule: BuildRule | None) -> str:
        """The builder a build of ``rule`` uses: the rule's (or its defaults') or else ours."""
        return rule.builder if rule is not None and rule.builder else self.builder

    def platforms_for(self, rule: BuildRule | None) -> tuple[str, ...]:
        """The platforms a build of ``rule`` builds: the rule's or else ours."""
        return rule.platforms if rule is not None and rule.platforms is not None else self.platforms

    def needs_of(self, indexes: Iterable[int]) -> tuple[str, ...]:
        """What a worker must offer to build the rules at ``indexes`` together: each platform
        they build and each ``runs_on`` label (the rule's or else ours), sorted."""
        needs: set[str] = set()
        for index in indexes:
            rule = self.build_rules[index]
            needs.update(self.platforms_for(rule))
            needs.update(rule.runs_on if rule.runs_on is not None else self.runs_on)
        return tuple(sorted(needs))

    def rebuilds_on_base_change(self, rule: BuildRule) -> bool:
        """Whether a changed ``FROM`` image rebuilds ``rule``: its own setting, else ours."""
        own = rule.rebuild_on_base_change
        return self.rebuild_on_base_change if own is None else own

    @property
    def images(self) -> tuple[str, ...]:
        """Every image this repository pushes to, repository image first."""
        return tuple(dict.fromkeys([self.image, *(self.image_for(r) for r in self.build_rules)]))

    @property
    def credential_hosts(self) -> tuple[str, ...]:
        """The registries whose credentials this repository's builds receive: the hosts of its
        images (where it pushes), then its ``pull_registries``."""
        hosts = [registry_host_of(image) for image in self.images]
        return tuple(dict.fromkeys([*hosts, *self.pull_registries]))


@dataclass(frozen=True)
class Config:
    repositories: tuple[Repository, ...] = ()
    registries: tuple[RegistryAuth, ...] = ()
    sources: tuple[Path, ...] = ()
    notify: tuple[NotifyTarget, ...] = ()  # top-level targets: every repository's builds

    def notify_targets(self, repository: Repository) -> tuple[NotifyTarget, ...]:
        """The repository's own ``notify:`` targets, then the top-level ones."""
        return repository.notify + self.notify

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
            names += repository.secret_env_names()
        names += _notify_env_names(self.notify)
        for registry in self.registries:
            names += [n for n in (registry.username_env, registry.password_env) if n]
        return tuple(dict.fromkeys(names))

    def build_secret_env_names(self, provider: str, name: str) -> tuple[str, ...]:
        """The secrets a build of one repository could have seen: its own, and the credentials
        of the registry it pushes to. Never another repository's (masking them in its log would
        tell a build which guesses are right)."""
        repository = self.find_repository(provider, name)
        if repository is None:
            return ()
        names = list(repository.secret_env_names())
        for registry in self.registries:
            if registry.host == repository.registry_host:
                names += [n for n in (registry.username_env, registry.password_env) if n]
        return tuple(dict.fromkeys(names))


def _notify_env_names(targets: tuple[NotifyTarget, ...]) -> list[str]:
    return [n for t in targets for n in (t.secret_env, t.apprise_env) if n]


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
    push: bool = True  # false: nothing is pushed (the push, verify and attest phases skip)
    pull_request: PullRequest | None = None  # set for a pull request build
    needs: tuple[str, ...] = ()  # platforms and labels its worker must offer (core.capabilities)
