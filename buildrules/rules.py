"""Reading one repository's ``build_rules`` (and its ``defaults``) into checked BuildRules.

Every template is checked against its rule's source here, so a tag or build arg that names a
group its regex lacks is a configuration error at load time, never a surprise at build time.
"""

from __future__ import annotations

import re

import yaml

from buildrules.errors import Problem
from buildrules.latest import read_latest
from buildrules.model import BuildRule, Location, PathFilter, is_regex_source
from buildrules.refs import parse_source_type
from buildrules.render import render_rule
from buildrules.rulefields import SHARED_KEYS, Field, read_shared_fields, resolve_locations
from buildrules.ruleregex import RulePattern, RuleRegexError, compile_rule_regex
from buildrules.schedule import Schedule, read_schedule
from buildrules.tags import MAX_TAG_LENGTH, invalid_tag_chars, is_valid_tag
from buildrules.templates import (
    BUILTIN_VARIABLES,
    PULL_REQUEST_VARIABLES,
    SourceVariables,
    Template,
    TemplateError,
    parse_template,
)
from buildrules.yamlnodes import Entry, NodeReader
from core.events import RefType

RULE_KEYS = ("source_type", "source", "docker_tag", "schedule", "latest", "push", *SHARED_KEYS)
DEFAULT_DOCKER_TAG = "{sourceref}"
RULE_HINTS = {
    "tag": "write docker_tag",
    "tags": "write docker_tag (it takes a list)",
    "docker_tags": "write docker_tag (it takes a list)",
    "source_name": "write source",
    "build_context": "write context",
    "dockerfile_location": "write dockerfile",
    "dockerfile_path": "write dockerfile",
    "nocache": "write build_caching (the opposite: nocache: true is build_caching: false)",
    "cache": "write build_caching",
    "args": "write build_args",
    "buildargs": "write build_args",
}
_GIT_NAME_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:\\]|\.\.|@\{|//|/\.|^\.|\.lock(?:/|$)|[./]$")
_COMMIT_PLACEHOLDER = "0" * 40


class RuleReader:
    """Reads the rules of one repository with the file's NodeReader (problems go there)."""

    def __init__(self, reader: NodeReader, image: str | None = None) -> None:
        self.reader = reader
        self.image = image or ""  # the repository's image, for rules without their own

    def read_rules(self, node: yaml.Node, defaults_node: yaml.Node | None) -> tuple[BuildRule, ...]:
        defaults: dict[str, Field] = {}
        if defaults_node is not None:
            entries = self.reader.mapping(defaults_node, "defaults")
            if entries is not None:
                self.reader.check_keys(entries, SHARED_KEYS, "defaults", RULE_HINTS)
                defaults = read_shared_fields(self.reader, entries)
        nodes = self.reader.sequence(node, "build_rules")
        if nodes is None:
            return ()
        if not nodes:
            self.reader.add(node, "build_rules must list at least one rule")
            return ()
        rules = [self._read_rule(n, defaults) for n in nodes]
        found = tuple(r for r in rules if r is not None)
        self._check_tag_conflicts(found)
        return found

    # -- one rule --------------------------------------------------------------------------------

    def _read_rule(self, node: yaml.Node, defaults: dict[str, Field]) -> BuildRule | None:
        reader = self.reader
        entries = reader.mapping(node, "a build rule")
        if entries is None:
            return None
        reader.check_keys(entries, RULE_KEYS, "a build rule", RULE_HINTS)
        before = len(reader.problems)
        source_type = self._source_type(entries, node)
        source_pattern = self._source(entries, node)
        latest_auto = read_latest(reader, entries)
        own = read_shared_fields(self.reader, entries)
        fields = {**defaults, **own}
        for key in ("build_args", "paths", "secrets"):  # maps merge key by key, the rule's winning
            if key in defaults and key in own:
                merged = {**dict(defaults[key].value), **dict(own[key].value)}
                fields[key] = Field(tuple(merged.items()), own[key].node)
        if source_type is None or source_pattern is None:
            return None
        source, pattern = source_pattern
        variables = SourceVariables.of(
            source, pattern, pull_request=source_type is RefType.PULL_REQUEST
        )
        push = self._push(entries)
        label = f"build rule for {source_type} {source!r}"
        docker_tags = self._docker_tags(entries.get("docker_tag"), variables, label)
        build_args = self._check_build_args(fields.get("build_args"), variables, label)
        dockerfile, context = resolve_locations(reader, fields)
        schedule = self._schedule(entries.get("schedule"), pattern is not None)
        if len(reader.problems) > before:
            return None
        path_lists = dict(fields["paths"].value) if "paths" in fields else {}
        paths = PathFilter(path_lists.get("include", ()), path_lists.get("ignore", ()))
        return BuildRule(
            source_type=source_type,
            source=source,
            docker_tags=docker_tags,
            dockerfile=dockerfile,
            context=context,
            build_args=build_args,
            autobuild=fields["autobuild"].value if "autobuild" in fields else True,
            build_caching=fields["build_caching"].value if "build_caching" in fields else True,
            paths=paths,
            location=Location(reader.file, reader.line(node)),
            image=fields["image"].value if "image" in fields else None,
            builder=fields["builder"].value if "builder" in fields else None,
            platforms=fields["platforms"].value if "platforms" in fields else None,
            runs_on=fields["runs_on"].value if "runs_on" in fields else None,
            secrets=fields["secrets"].value if "secrets" in fields else (),
            schedule=schedule,
            rebuild_on_base_change=fields["rebuild_on_base_change"].value
            if "rebuild_on_base_change" in fields
            else None,
            latest_auto=latest_auto,
            push=push,
        )

    def _schedule(self, entry: Entry | None, regex_source: bool) -> Schedule | None:
        if entry is None:
            return None
        if regex_source:
            self.reader.add(
                entry.key_node,
                "schedule needs a literal source (a branch or tag name): a regex names no "
                "ref to build",
            )
            return None
        return read_schedule(self.reader, entry.value)

    def _push(self, entries: dict[str, Entry]) -> bool:
        if "push" not in entries:
            return True
        flag = self.reader.boolean(entries["push"].value, "push")
        return True if flag is None else flag

    def _source_type(self, entries: dict[str, Entry], node: yaml.Node) -> RefType | None:
        if "source_type" not in entries:
            self.reader.add(node, "a build rule needs 'source_type' (branch, tag or pull_request)")
            return None
        value = self.reader.string(entries["source_type"].value, "source_type")
        if value is None:
            return None
        try:
            return parse_source_type(value)
        except ValueError as exc:
            self.reader.add(entries["source_type"].value, str(exc))
            return None

    def _source(
        self, entries: dict[str, Entry], node: yaml.Node
    ) -> tuple[str, RulePattern | None] | None:
        if "source" not in entries:
            self.reader.add(node, "a build rule needs 'source' (a name, or a regex like /^v.*$/)")
            return None
        value_node = entries["source"].value
        value = self.reader.string(value_node, "source")
        if value is None:
            return None
        source = value.strip()
        if is_regex_source(source):
            return self._regex_source(source, value_node)
        message = _literal_source_problem(source)
        if message:
            self.reader.add(value_node, message)
            return None
        return source, None

    def _regex_source(self, source: str, node: yaml.Node) -> tuple[str, RulePattern | None] | None:
        body = source[1:-1]
        if not body:
            self.reader.add(node, "source // is an empty regex")
            return None
        try:
            pattern = compile_rule_regex(body)
        except RuleRegexError as exc:
            self.reader.add(node, f"source {source} {exc}")
            return None
        shadowing = sorted(set(pattern.groupindex) & {*BUILTIN_VARIABLES, *PULL_REQUEST_VARIABLES})
        if shadowing:
            self.reader.add(
                node,
                f"source {source}: rename the group {shadowing[0]!r}, it hides the "
                f"built-in variable {{{shadowing[0]}}}",
            )
            return None
        return source, pattern

    # -- templates -------------------------------------------------------------------------------

    def _docker_tags(
        self, entry: Entry | None, variables: SourceVariables, label: str
    ) -> tuple[str, ...]:
        if entry is None:
            return (DEFAULT_DOCKER_TAG,)
        reader = self.reader
        if isinstance(entry.value, yaml.SequenceNode):
            items = list(entry.value.value)
            if not items:
                reader.add(entry.value, "docker_tag must name at least one tag")
        else:
            items = [entry.value]
        texts: list[str] = []
        for item in items:
            text = reader.string(item, "docker_tag")
            if text is None:
                continue
            for piece in text.split(","):
                tag = piece.strip()
                if not tag:
                    reader.add(item, f"docker_tag {text!r} has an empty tag between commas")
                elif self._check_tag_template(tag, item, variables, label):
                    texts.append(tag)
        return tuple(dict.fromkeys(texts))

    def _check_tag_template(
        self, text: str, node: yaml.Node, variables: SourceVariables, label: str
    ) -> bool:
        reader = self.reader
        try:
            template = parse_template(text)
        except TemplateError as exc:
            reader.add(node, f"docker_tag: {exc}")
            return False
        ok = self._check_variables(template, node, variables, f"docker_tag {text!r}", label)
        bad = invalid_tag_chars(template.literal_text)
        if bad:
            reader.add(
                node,
                f"docker_tag {text!r} contains {bad!r}, which a Docker tag cannot "
                "hold (letters, digits, '_', '.' and '-' only)",
            )
            return False
        first = template.parts[0] if template.parts else ""
        if isinstance(first, str) and first[:1] in (".", "-"):
            reader.add(node, f"docker_tag {text!r} must not start with '.' or '-'")
            return False
        if template.is_literal and not is_valid_tag(text):
            reader.add(node, f"docker_tag {text!r} is longer than {MAX_TAG_LENGTH} characters")
            return False
        return ok

    def _check_variables(
        self,
        template: Template,
        node: yaml.Node,
        variables: SourceVariables,
        what: str,
        label: str,
    ) -> bool:
        messages = template.problems(variables)
        for message in messages:
            self.reader.add(node, f"{what} in the {label}: {message}")
        return not messages

    def _check_build_args(
        self, field: Field | None, variables: SourceVariables, label: str
    ) -> tuple[tuple[str, str], ...]:
        if field is None:
            return ()
        result: list[tuple[str, str]] = []
        for name, (text, node) in field.value:
            template = parse_template(text)
            if self._check_variables(template, node, variables, f"build arg {name}", label):
                result.append((name, text))
        return tuple(result)

    # -- across rules ---------------------------------------------------------------------------

    def _check_tag_conflicts(self, rules: tuple[BuildRule, ...]) -> None:
        """Two rules with the same literal source must not push one tag from different builds."""
        claimed: dict[tuple[object, ...], tuple[tuple[object, ...], BuildRule]] = {}
        for index, rule in enumerate(rules):
            if is_regex_source(rule.source):
                continue
            rendered = render_rule(
                rule,
                index=index,
                image=self.image,
                ref_name=rule.source,
                commit=_COMMIT_PLACEHOLDER,
                found=None,
            )
            for tag in rendered.docker_tags:
                key = (rule.source_type, rule.source, rendered.image, tag)
                earlier = claimed.get(key)
                if earlier is None:
                    claimed[key] = (rendered.build_key, rule)
                elif earlier[0] != rendered.build_key:
                    where = earlier[1].location
                    line = where.line if where else 0
                    self.reader.problems.append(_conflict(rule, tag, line))


def _conflict(rule: BuildRule, tag: str, earlier_line: int) -> Problem:
    assert rule.location is not None
    return Problem(
        rule.location.file,
        rule.location.line,
        f"docker tag {tag!r} of {rule.source_type} {rule.source!r} also comes from the rule at "
        f"line {earlier_line}, which builds differently (Dockerfile, context, build args or "
        "caching); one build would overwrite the other's tag",
    )


def _literal_source_problem(source: str) -> str | None:
    if source.startswith(("refs/heads/", "refs/tags/")):
        short = source.split("/", 2)[2]
        return f"source is the short name: write {short!r}, not {source!r}"
    if source.startswith("/"):
        return (
            f"source {source!r}: a regex is written between slashes, like /^v[0-9.]+$/, "
            "without flags (write (?i) inside the regex for case-insensitive matching)"
        )
    if any(c in source for c in "*?["):
        return (
            f"source {source!r} is not a branch or tag name; for a pattern write a regex "
            "between slashes, like /^release-.*$/"
        )
    if _GIT_NAME_FORBIDDEN.search(source) or source == "@" or source.startswith("-"):
        return f"source {source!r} is not a valid git branch or tag name"
    return None
