"""Loading the YAML configuration: ``load(path) -> Config`` or ConfigError naming file and line.

``path`` is a YAML file, or a directory whose ``*.yml``/``*.yaml`` files (not hidden ones, not in
subdirectories) are read in name order and merged. The same repository (provider and name,
case-insensitive) in two places is an error naming both, as is the same registry host.

Every problem found is reported, not just the first: the error's ``problems`` lists them all
as ``Problem(file, line, message)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from buildrules.autotest import AUTOTEST_KEYS, read_autotest
from buildrules.builder import BUILDER_KEYS, read_builder_keys
from buildrules.errors import ConfigError, Problem
from buildrules.hookfields import HOOK_KEYS, read_hook_keys
from buildrules.keep import read_keep
from buildrules.model import (
    NETWORK_MODES,
    PROVIDERS,
    BuildRule,
    Config,
    Location,
    NotifyTarget,
    RegistryAuth,
    Repository,
)
from buildrules.notifyconf import STATUS_KEYS, read_notify, read_status_options
from buildrules.pullregistries import PULL_REGISTRIES_KEY, read_pull_registries
from buildrules.rulefields import read_secrets
from buildrules.rules import RuleReader
from buildrules.sourcekeys import SOURCE_KEYS, read_source_keys
from buildrules.values import (
    check_clone_url,
    check_env_name,
    check_image,
    check_registry_host,
    parse_duration,
    parse_memory,
)
from buildrules.yamlnodes import Document, Entry, NodeReader, parse_document, read_document

__all__ = ["ConfigError", "Problem", "load", "load_text"]

TOP_LEVEL_KEYS = ("registries", "repositories", "notify")
REGISTRY_KEYS = ("host", "username_env", "password_env")
REPOSITORY_KEYS = (
    "provider",
    "name",
    "clone_url",
    "image",
    "webhook_secret_env",
    "trigger_token_env",
    "build_rules",
    "defaults",
    "timeout",
    "no_output_timeout",
    "max_concurrent_builds",
    "cancel_running",
    "network",
    "memory",
    "cpus",
    "retries",
    *BUILDER_KEYS,
    "secrets",
    "keep",
    *STATUS_KEYS,
    "rebuild_on_base_change",
    *SOURCE_KEYS,
    *HOOK_KEYS,
    *AUTOTEST_KEYS,
    PULL_REGISTRIES_KEY,
)
REQUIRED_REPOSITORY_KEYS = ("provider", "name", "clone_url", "image", "build_rules")
REPOSITORY_HINTS = {
    "rules": "write build_rules",
    "url": "write clone_url",
    "git_url": "write clone_url",
    "repository": "write name",
    "secret_env": "write webhook_secret_env",
    "tags": "tags belong in each build rule's docker_tag",
}
CONFIG_SUFFIXES = (".yml", ".yaml")


def load(path: str | Path) -> Config:
    """Load and check a configuration file or directory; ConfigError lists every problem."""
    root = Path(path)
    problems: list[Problem] = []
    documents: list[Document] = []
    for file in _config_files(root, problems):
        document = read_document(file, problems)
        if document is not None:
            documents.append(document)
    return _build(documents, problems)


def load_text(text: str, file: str | Path = "<config>") -> Config:
    """Load a configuration from YAML text; ``file`` is the name problems are reported under."""
    problems: list[Problem] = []
    document = parse_document(text, Path(file), problems)
    return _build([document] if document is not None else [], problems)


def _config_files(root: Path, problems: list[Problem]) -> list[Path]:
    if root.is_dir():
        files = sorted(
            p
            for p in root.iterdir()
            if p.suffix in CONFIG_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            problems.append(Problem(root, 1, "the directory holds no *.yml or *.yaml files"))
        return files
    if not root.exists():
        problems.append(Problem(root, 1, "no such file or directory"))
        return []
    return [root]


def _build(documents: Iterable[Document], problems: list[Problem]) -> Config:
    repositories: dict[tuple[str, str], Repository] = {}
    registries: dict[str, RegistryAuth] = {}
    sources: list[Path] = []
    notify: list[NotifyTarget] = []
    for document in documents:
        sources.append(document.file)
        file_repos, file_registries = _read_document(document)
        notify += _read_top_notify(document)
        for repository in file_repos:
            what = f"repository {repository.provider} {repository.name!r}"
            _add_unique(repositories, repository.key, repository, what, problems)
        for registry in file_registries:
            _add_unique(
                registries, registry.host, registry, f"registry {registry.host!r}", problems
            )
    if not problems and not repositories:
        where = sources[0] if sources else Path("<config>")
        problems.append(Problem(where, 1, "no repositories are configured"))
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (str(p.file), p.line)))
    return Config(
        tuple(repositories.values()), tuple(registries.values()), tuple(sources), tuple(notify)
    )


def _read_top_notify(document: Document) -> tuple[NotifyTarget, ...]:
    """The top-level ``notify:`` targets of one file (they apply to every repository)."""
    root = document.root
    if not isinstance(root, yaml.MappingNode):
        return ()
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "notify":
            return read_notify(document.reader, value_node)
    return ()


class _Located(Protocol):
    @property
    def location(self) -> Location | None: ...


K = TypeVar("K")
V = TypeVar("V", bound=_Located)


def _add_unique(kept: dict[K, V], key: K, item: V, what: str, problems: list[Problem]) -> None:
    """Keep ``item`` under ``key`` unless an earlier file or entry has it: then a problem that
    names both places."""
    earlier = kept.get(key)
    if earlier is None:
        kept[key] = item
        return
    _duplicate(problems, item.location, earlier.location, what)


def _duplicate(
    problems: list[Problem], here: Location | None, earlier: Location | None, what: str
) -> None:
    if here is None:
        return
    problems.append(Problem(here.file, here.line, f"{what} is already configured at {earlier}"))


def _read_document(document: Document) -> tuple[list[Repository], list[RegistryAuth]]:
    reader = document.reader
    if document.root is None:
        reader.add(None, "the file is empty; expected 'repositories:' (and optional 'registries:')")
        return [], []
    top = reader.mapping(document.root, "the configuration file")
    if top is None:
        return [], []
    reader.check_keys(top, TOP_LEVEL_KEYS, "the configuration file")
    registries: list[RegistryAuth] = []
    repositories: list[Repository] = []
    if "registries" in top:
        for node in reader.sequence(top["registries"].value, "registries") or []:
            registry = _read_registry(reader, node)
            if registry is not None:
                registries.append(registry)
    if "repositories" in top:
        nodes = reader.sequence(top["repositories"].value, "repositories") or []
        seen: dict[tuple[str, str], Location | None] = {}
        for node in nodes:
            repository = _read_repository(reader, node)
            if repository is None:
                continue
            if repository.key in seen:
                _duplicate(
                    reader.problems,
                    repository.location,
                    seen[repository.key],
                    f"repository {repository.provider} {repository.name!r}",
                )
                continue
            seen[repository.key] = repository.location
            repositories.append(repository)
    return repositories, registries


def _location(reader: NodeReader, node: yaml.Node) -> Location:
    return Location(reader.file, reader.line(node))


def _env_name(reader: NodeReader, entries: dict[str, Entry], key: str) -> str | None:
    if key not in entries:
        return None
    value = reader.string(entries[key].value, key)
    if value is None:
        return None
    try:
        return check_env_name(value.strip(), key)
    except ValueError as exc:
        reader.add(entries[key].value, str(exc))
        return None


def _read_registry(reader: NodeReader, node: yaml.Node) -> RegistryAuth | None:
    entries = reader.mapping(node, "a registry")
    if entries is None:
        return None
    reader.check_keys(entries, REGISTRY_KEYS, "a registry")
    if "host" not in entries:
        reader.add(node, "a registry needs 'host' (like registry.example.com:5000)")
        return None
    raw_host = reader.string(entries["host"].value, "host")
    username_env = _env_name(reader, entries, "username_env")
    password_env = _env_name(reader, entries, "password_env")
    if ("username_env" in entries) != ("password_env" in entries):
        reader.add(node, "a registry needs both username_env and password_env, or neither")
    if raw_host is None:
        return None
    try:
        host = check_registry_host(raw_host)
    except ValueError as exc:
        reader.add(entries["host"].value, str(exc))
        return None
    return RegistryAuth(host, username_env, password_env, _location(reader, node))


def _read_repository(reader: NodeReader, node: yaml.Node) -> Repository | None:
    entries = reader.mapping(node, "a repository")
    if entries is None:
        return None
    reader.check_keys(entries, REPOSITORY_KEYS, "a repository", REPOSITORY_HINTS)
    before = len(reader.problems)
    for key in REQUIRED_REPOSITORY_KEYS:
        if key not in entries:
            reader.add(node, f"a repository needs {key!r}")
    provider = _provider(reader, entries)
    name = _checked(reader, entries, "name", _check_name)
    clone_url = _checked(reader, entries, "clone_url", check_clone_url)
    image = _checked(reader, entries, "image", check_image)
    webhook_secret_env = _env_name(reader, entries, "webhook_secret_env")
    trigger_token_env = _env_name(reader, entries, "trigger_token_env")
    options = _repository_options(reader, entries)
    options.update(read_status_options(reader, entries, provider))
    options.update(read_pull_registries(reader, entries))
    rules: tuple[BuildRule, ...] = ()
    if "build_rules" in entries:
        defaults = entries["defaults"].value if "defaults" in entries else None
        rules = RuleReader(reader, image).read_rules(entries["build_rules"].value, defaults)
    if len(reader.problems) > before:
        return None
    if options.get("secrets"):  # the repository's secrets hold for every rule, a rule's id winning
        rules = tuple(
            replace(rule, secrets=tuple({**dict(options["secrets"]), **dict(rule.secrets)}.items()))
            for rule in rules
        )
    assert provider and name and clone_url and image, "a missing key is a problem above"
    repository = Repository(
        provider=provider,
        name=name,
        clone_url=clone_url,
        image=image,
        build_rules=rules,
        webhook_secret_env=webhook_secret_env,
        trigger_token_env=trigger_token_env,
        location=_location(reader, node),
    )
    return replace(repository, **options)


def _provider(reader: NodeReader, entries: dict[str, Entry]) -> str | None:
    if "provider" not in entries:
        return None
    value = reader.string(entries["provider"].value, "provider")
    if value is None:
        return None
    provider = value.strip().lower()
    if provider not in PROVIDERS:
        reader.add(
            entries["provider"].value,
            f"provider must be one of {', '.join(PROVIDERS)}, not {value!r}",
        )
        return None
    return provider


def _check_name(value: str) -> str:
    name = value.strip()
    if any(c.isspace() or ord(c) < 32 for c in name):
        raise ValueError(f"name {value!r} must not contain whitespace")
    return name


def _checked(
    reader: NodeReader, entries: dict[str, Entry], key: str, check: Callable[[str], str]
) -> str | None:
    if key not in entries:
        return None
    value = reader.string(entries[key].value, key)
    if value is None:
        return None
    try:
        return check(value.strip())
    except ValueError as exc:
        reader.add(entries[key].value, str(exc))
        return None


def _repository_options(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Any]:
    """The optional repository keys that have a model field of their own, checked."""
    options: dict[str, Any] = read_builder_keys(reader, entries)
    options.update(read_source_keys(reader, entries))
    for key, field in (
        ("timeout", "timeout_seconds"),
        ("no_output_timeout", "no_output_timeout_seconds"),
    ):
        if key in entries:
            raw = reader.int_or_string(entries[key].value, key)
            if raw is not None:
                try:
                    options[field] = parse_duration(raw, key)
                except ValueError as exc:
                    reader.add(entries[key].value, str(exc))
    if "max_concurrent_builds" in entries:
        value = reader.integer(
            entries["max_concurrent_builds"].value, "max_concurrent_builds", minimum=1
        )
        if value is not None:
            options["max_concurrent_builds"] = value
    if "retries" in entries:
        value = reader.integer(entries["retries"].value, "retries", minimum=0)
        if value is not None:
            options["retries"] = value
    if "keep" in entries:
        options["keep"] = read_keep(reader, entries["keep"].value)
    for key in ("cancel_running", "rebuild_on_base_change"):
        if key in entries:
            flag = reader.boolean(entries[key].value, key)
            if flag is not None:
                options[key] = flag
    if "network" in entries:
        network = reader.string(entries["network"].value, "network")
        if network is not None and network.strip().lower() not in NETWORK_MODES:
            reader.add(
                entries["network"].value,
                f"network must be one of {', '.join(NETWORK_MODES)}, not {network!r}",
            )
        elif network is not None:
            options["network"] = network.strip().lower()
    if "memory" in entries:
        memory = reader.int_or_string(entries["memory"].value, "memory")
        if memory is not None:
            try:
                options["memory"] = parse_memory(memory)
            except ValueError as exc:
                reader.add(entries["memory"].value, str(exc))
    if "cpus" in entries:
        cpus = reader.number(entries["cpus"].value, "cpus")
        if cpus is not None:
            options["cpus"] = cpus
    if "secrets" in entries:
        secrets = read_secrets(reader, entries["secrets"].value)
        if secrets is not None:
            options["secrets"] = secrets
    options.update(read_hook_keys(reader, entries))
    options.update(read_autotest(reader, entries))
    return options
