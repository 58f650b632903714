"""The notification keys of the configuration: a repository's commit status keys (``status``,
``status_token_env``, ``api_url``, ``status_context``) and ``notify:`` lists, per repository or
at the top level. Problems name file and line, like every other key."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from buildrules.model import (
    NOTIFY_EVENTS,
    NOTIFY_FORMATS,
    Location,
    NotifyTarget,
    is_regex_source,
)
from buildrules.ruleregex import RuleRegexError, compile_rule_regex
from buildrules.values import check_env_name
from buildrules.yamlnodes import Entry, NodeReader

STATUS_KEYS = ("status", "status_token_env", "api_url", "status_context", "notify")
NOTIFY_KEYS = ("url", "apprise_env", "events", "branches", "tags", "secret_env", "format")
STATUS_PROVIDERS = ("github", "gitlab", "bitbucket", "gitea")
# Chat and e-mail are for people: by default they hear how builds end, not that they queued.
APPRISE_DEFAULT_EVENTS = ("build.succeeded", "build.failed", "build.errored", "build.timed_out")
DOCKERHUB_EVENTS = ("build.succeeded",)  # Docker Hub's hook fires on a push, nothing else


def check_http_url(value: str, key: str) -> str:
    """An http(s) URL without credentials in it (they belong in an ``*_env`` variable)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError(
            f"{key} must not hold credentials; name the variable that holds them with an *_env key"
        )
    return value


def read_status_options(
    reader: NodeReader, entries: dict[str, Entry], provider: str | None
) -> dict[str, Any]:
    """The repository's status and notify keys that are present, checked, as Repository fields."""
    options: dict[str, Any] = {}
    if "status" in entries:
        flag = reader.boolean(entries["status"].value, "status")
        if flag is not None:
            options["status"] = flag
    for key in ("status_token_env",):
        if key in entries:
            name = _env(reader, entries[key].value, key)
            if name is not None:
                options[key] = name
    for key, check in (("api_url", check_http_url), ("status_context", _check_context)):
        if key in entries:
            value = reader.string(entries[key].value, key)
            if value is not None:
                try:
                    options[key] = check(value.strip(), key)
                except ValueError as exc:
                    reader.add(entries[key].value, str(exc))
    if "notify" in entries:
        options["notify"] = read_notify(reader, entries["notify"].value)
    if options.get("status"):
        _check_status_needs(reader, entries, provider, options)
    return options


def _check_status_needs(
    reader: NodeReader, entries: dict[str, Entry], provider: str | None, options: dict[str, Any]
) -> None:
    node = entries["status"].value
    if provider is not None and provider not in STATUS_PROVIDERS:
        reader.add(
            node,
            f"status: true needs a git host with a status API ({', '.join(STATUS_PROVIDERS)}),"
            f" not {provider!r}",
        )
    if "status_token_env" not in entries:
        reader.add(node, "status: true needs status_token_env (the variable with the API token)")
    if provider == "gitea" and "api_url" not in entries:
        reader.add(
            node, "status: true for gitea needs api_url (like https://gitea.example.com/api/v1)"
        )


def _check_context(value: str, key: str) -> str:
    if len(value) > 100 or any(ord(c) < 32 for c in value):
        raise ValueError(f"{key} must be one line of at most 100 characters")
    return value


def _env(reader: NodeReader, node: yaml.Node, key: str) -> str | None:
    value = reader.string(node, key)
    if value is None:
        return None
    try:
        return check_env_name(value.strip(), key)
    except ValueError as exc:
        reader.add(node, str(exc))
        return None


def read_notify(reader: NodeReader, node: yaml.Node) -> tuple[NotifyTarget, ...]:
    """A ``notify:`` list; entries with problems are left out (the problems say why)."""
    targets: list[NotifyTarget] = []
    for item in reader.sequence(node, "notify") or []:
        target = _read_target(reader, item)
        if target is not None:
            targets.append(target)
    return tuple(targets)


def _read_target(reader: NodeReader, node: yaml.Node) -> NotifyTarget | None:
    entries = reader.mapping(node, "a notify entry")
    if entries is None:
        return None
    reader.check_keys(entries, NOTIFY_KEYS, "a notify entry")
    before = len(reader.problems)
    if ("url" in entries) == ("apprise_env" in entries):
        reader.add(node, "a notify entry needs either url (a webhook) or apprise_env, not both")
    url = None
    if "url" in entries:
        raw = reader.string(entries["url"].value, "url")
        if raw is not None:
            try:
                url = check_http_url(raw.strip(), "url")
            except ValueError as exc:
                reader.add(entries["url"].value, str(exc))
    apprise_env = (
        _env(reader, entries["apprise_env"].value, "apprise_env")
        if "apprise_env" in entries
        else None
    )
    secret_env = (
        _env(reader, entries["secret_env"].value, "secret_env") if "secret_env" in entries else None
    )
    target_format = "json"
    if "format" in entries:
        raw_format = reader.string(entries["format"].value, "format")
        if raw_format is not None and raw_format.strip() not in NOTIFY_FORMATS:
            reader.add(
                entries["format"].value,
                f"format must be one of {', '.join(NOTIFY_FORMATS)}, not {raw_format!r}",
            )
        elif raw_format is not None:
            target_format = raw_format.strip()
    if apprise_env is not None:
        for key in ("secret_env", "format"):
            if key in entries:
                reader.add(entries[key].key_node, f"{key} is for url targets, not apprise_env ones")
    events = _events(reader, entries, apprise_env is not None, target_format)
    branches = _ref_patterns(reader, entries, "branches")
    tags = _ref_patterns(reader, entries, "tags")
    if len(reader.problems) > before:
        return None
    return NotifyTarget(
        events=events,
        url=url,
        apprise_env=apprise_env,
        secret_env=secret_env,
        format=target_format,
        branches=branches,
        tags=tags,
        location=Location(reader.file, reader.line(node)),
    )


def _events(
    reader: NodeReader, entries: dict[str, Entry], apprise: bool, target_format: str
) -> tuple[str, ...]:
    default = DOCKERHUB_EVENTS if target_format == "dockerhub" else NOTIFY_EVENTS
    if "events" not in entries:
        return APPRISE_DEFAULT_EVENTS if apprise else default
    node = entries["events"].value
    events: list[str] = []
    for item in reader.sequence(node, "events") or []:
        name = reader.string(item, "an event")
        if name is None:
            continue
        if name.strip() not in NOTIFY_EVENTS:
            reader.add(item, f"unknown event {name!r}; known: {', '.join(NOTIFY_EVENTS)}")
        elif target_format == "dockerhub" and name.strip() not in DOCKERHUB_EVENTS:
            reader.add(item, "format: dockerhub sends only build.succeeded (Docker Hub's push)")
        else:
            events.append(name.strip())
    return tuple(dict.fromkeys(events))


def _ref_patterns(reader: NodeReader, entries: dict[str, Entry], key: str) -> tuple[str, ...]:
    if key not in entries:
        return ()
    patterns: list[str] = []
    for item in reader.sequence(entries[key].value, key) or []:
        value = reader.string(item, f"an entry of {key}")
        if value is None:
            continue
        if is_regex_source(value):
            try:
                compile_rule_regex(value[1:-1])
            except RuleRegexError as exc:
                reader.add(item, f"{key}: {value} {exc}")
                continue
        patterns.append(value)
    return tuple(patterns)
