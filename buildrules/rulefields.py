"""Rule keys that ``defaults:`` may also set: reading and checking them.

``build_args`` values are kept with their YAML node, so that a template problem found later
(against a particular rule's source) still names the line the value was written on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from buildrules.builder import BUILDER_KEYS, read_builder_keys
from buildrules.paths import GlobError, compile_glob
from buildrules.templates import TemplateError, parse_template
from buildrules.values import (
    ENV_NAME_RE,
    SECRET_ID_RE,
    check_env_name,
    check_image,
    normalize_context,
    normalize_dockerfile,
)
from buildrules.yamlnodes import Entry, NodeReader, describe

SHARED_KEYS = (
    "dockerfile",
    "context",
    "build_args",
    "autobuild",
    "build_caching",
    "paths",
    "image",
    *BUILDER_KEYS,
    "secrets",
    "rebuild_on_base_change",
)
PATH_KEYS = ("include", "ignore")
BuildArgs = tuple[tuple[str, tuple[str, yaml.Node]], ...]  # (name, (template, node))


@dataclass(frozen=True)
class Field:
    """A checked value and the node it was written at."""

    value: Any
    node: yaml.Node


def read_shared_fields(reader: NodeReader, entries: dict[str, Entry]) -> dict[str, Field]:
    """The keys a rule shares with ``defaults``, checked; a key with a problem is left out."""
    fields: dict[str, Field] = {}
    for key in ("dockerfile",):
        if key in entries:
            value = reader.string(entries[key].value, key)
            if value is not None:
                fields[key] = Field(value, entries[key].value)
    if "context" in entries:
        value = reader.string(entries["context"].value, "context", allow_empty=True)
        if value is not None:
            fields["context"] = Field(value, entries["context"].value)
    for key in ("autobuild", "build_caching", "rebuild_on_base_change"):
        if key in entries:
            flag = reader.boolean(entries[key].value, key)
            if flag is not None:
                fields[key] = Field(flag, entries[key].value)
    if "image" in entries:
        image = reader.string(entries["image"].value, "image")
        if image is not None:
            try:
                fields["image"] = Field(check_image(image.strip()), entries["image"].value)
            except ValueError as exc:
                reader.add(entries["image"].value, str(exc))
    if "build_args" in entries:
        args = _build_args(reader, entries["build_args"].value)
        if args is not None:
            fields["build_args"] = Field(args, entries["build_args"].value)
    if "paths" in entries:
        paths = _paths(reader, entries["paths"].value)
        if paths is not None:
            fields["paths"] = Field(paths, entries["paths"].value)
    for key, value in read_builder_keys(reader, entries).items():
        fields[key] = Field(value, entries[key].value)
    if "secrets" in entries:
        secrets = read_secrets(reader, entries["secrets"].value)
        if secrets is not None:
            fields["secrets"] = Field(secrets, entries["secrets"].value)
    return fields


def read_secrets(reader: NodeReader, node: yaml.Node) -> tuple[tuple[str, str], ...] | None:
    """``secrets: {ID: ENV_VAR_NAME}``: the build secret ``ID`` is the value of the worker's
    environment variable ``ENV_VAR_NAME`` (never the value itself: that stays out of the YAML)."""
    entries = reader.mapping(node, "secrets")
    if entries is None:
        return None
    secrets: list[tuple[str, str]] = []
    for secret_id, entry in entries.items():
        if not SECRET_ID_RE.fullmatch(secret_id):
            reader.add(
                entry.key_node,
                f"secret id {secret_id!r} must be letters, digits, '_', '.' and '-'",
            )
            continue
        env = reader.string(entry.value, f"secret {secret_id}")
        if env is None:
            continue
        try:
            secrets.append((secret_id, check_env_name(env.strip(), f"secret {secret_id}")))
        except ValueError as exc:
            reader.add(entry.value, str(exc))
    return tuple(secrets)


def _build_args(reader: NodeReader, node: yaml.Node) -> BuildArgs | None:
    entries = reader.mapping(node, "build_args")
    if entries is None:
        return None
    args: list[tuple[str, tuple[str, yaml.Node]]] = []
    for name, entry in entries.items():
        if not ENV_NAME_RE.fullmatch(name):
            reader.add(
                entry.key_node,
                f"build arg name {name!r} must be letters, digits "
                "and '_', not starting with a digit",
            )
            continue
        if not isinstance(entry.value, yaml.ScalarNode) or entry.value.tag.endswith(":null"):
            reader.add(
                entry.value,
                f"build arg {name} must be text, not {describe(entry.value)}; "
                "write '' for an empty value",
            )
            continue
        text = reader.string(entry.value, f"build arg {name}", allow_empty=True)
        if text is None:
            continue
        try:
            template = parse_template(text)
        except TemplateError as exc:
            reader.add(entry.value, f"build arg {name}: {exc}")
            continue
        if template.deferred:
            reader.add(
                entry.value,
                f"build arg {name}: {{commit_date}} is only for docker_tag (build args are "
                "fixed before the commit is fetched); write {date:...} for the trigger time",
            )
            continue
        args.append((name, (text, entry.value)))
    return tuple(args)


def _paths(reader: NodeReader, node: yaml.Node) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """The ``include``/``ignore`` lists given (a key not written is left out)."""
    entries = reader.mapping(node, "paths")
    if entries is None:
        return None
    reader.check_keys(entries, PATH_KEYS, "paths", {"exclude": "write ignore"})
    lists: dict[str, tuple[str, ...]] = {}
    for key in PATH_KEYS:
        if key not in entries:
            continue
        value = entries[key].value
        items = (
            [value]
            if isinstance(value, yaml.ScalarNode)
            else reader.sequence(value, f"paths.{key}")
        )
        patterns: list[str] = []
        for item in items or []:
            text = reader.string(item, f"a paths.{key} pattern")
            if text is None:
                continue
            try:
                compile_glob(text)
            except GlobError as exc:
                reader.add(item, str(exc))
                continue
            patterns.append(text.strip())
        lists[key] = tuple(patterns)
    return tuple(lists.items())


def resolve_locations(reader: NodeReader, fields: dict[str, Field]) -> tuple[str, str]:
    """(dockerfile, context) in normal form; Docker Hub's blank context is the file's folder."""
    dockerfile_field = fields.get("dockerfile")
    context_field = fields.get("context")
    raw_dockerfile = dockerfile_field.value if dockerfile_field else "Dockerfile"
    dockerfile_node = dockerfile_field.node if dockerfile_field else None
    if context_field is not None and not context_field.value.strip():
        try:
            path = normalize_dockerfile(str(raw_dockerfile).lstrip("/"))
        except ValueError as exc:
            reader.add(dockerfile_node, str(exc))
            return "Dockerfile", "/"
        folder, _, name = path.rpartition("/")
        return name, "/" + folder
    try:
        context = normalize_context(context_field.value) if context_field else "/"
    except ValueError as exc:
        reader.add(context_field.node if context_field else None, str(exc))
        context = "/"
    try:
        return normalize_dockerfile(raw_dockerfile), context
    except ValueError as exc:
        reader.add(dockerfile_node, str(exc))
        return "Dockerfile", context
