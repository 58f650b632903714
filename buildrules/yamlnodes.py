"""Reading YAML as nodes that remember their line, safely.

``yaml.safe_load`` semantics (no Python objects), plus: aliases are refused (no "billion laughs"),
files are capped at ``MAX_FILE_BYTES``, duplicate keys are an error, and every value keeps the line
it was written on. :class:`NodeReader` turns nodes into checked Python values and records a
:class:`Problem` for each mistake instead of stopping at the first.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from buildrules.errors import Problem

MAX_FILE_BYTES = 1024 * 1024

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, so nothing can expand beyond the file's own size."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed in an Autobuild configuration; "
                "use the repository's defaults: key to share settings",
                event.start_mark,
            )
        return super().compose_node(parent, index)


@dataclass(frozen=True)
class Entry:
    """One ``key: value`` pair of a mapping, with both nodes."""

    key: str
    key_node: yaml.Node
    value: yaml.Node


class NodeReader:
    """Typed access to one file's nodes; problems are collected in ``problems``."""

    def __init__(self, file: Path, loader: yaml.SafeLoader, problems: list[Problem]) -> None:
        self.file = file
        self._loader = loader
        self.problems = problems

    # -- problems -------------------------------------------------------------------------------

    def line(self, node: yaml.Node | None) -> int:
        return node.start_mark.line + 1 if node is not None else 1

    def add(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(Problem(self.file, self.line(node), message))

    # -- structure ------------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str) -> dict[str, Entry] | None:
        """A mapping's entries by key; duplicate and non-string keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.add(node, f"{what} must be a mapping of key: value, not {describe(node)}")
            return None
        entries: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _NULL:
                self.add(key_node, f"keys in {what} must be names, not {describe(key_node)}")
                continue
            key = str(key_node.value)
            if key in entries:
                first = self.line(entries[key].key_node)
                self.add(key_node, f"duplicate key {key!r} in {what} (first at line {first})")
                continue
            entries[key] = Entry(key, key_node, value_node)
        return entries

    def check_keys(
        self,
        entries: Mapping[str, Entry],
        allowed: Collection[str],
        what: str,
        hints: Mapping[str, str] | None = None,
    ) -> None:
        """Every key must be in ``allowed``; ``hints`` maps a known wrong key to advice."""
        for key, entry in entries.items():
            if key in allowed:
                continue
            if hints and key in hints:
                self.add(entry.key_node, f"unknown key {key!r} in {what}: {hints[key]}")
            elif f"{key}_env" in allowed:
                self.add(
                    entry.key_node,
                    f"{key!r} would put a secret in the configuration: put it in an environment "
                    f"variable and name that variable with {key}_env",
                )
            else:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                advice = f" (did you mean {close[0]!r}?)" if close else ""
                known = ", ".join(sorted(allowed))
                self.add(entry.key_node, f"unknown key {key!r} in {what}{advice}; known: {known}")

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.add(node, f"{what} must be a list, not {describe(node)}")
            return None
        return list(node.value)

    def checked_list(
        self,
        node: yaml.Node,
        key: str,
        what: str,
        check: Callable[[str], str],
        *,
        error_prefix: str = "",
        twice: Callable[[str], str],
    ) -> tuple[str, ...] | None:
        """A value written as one text or a list of texts (``key``), each put in normal form by
        ``check`` (its ValueError becomes a problem, after ``error_prefix``), none twice
        (``twice(value)`` says so). None, with the problem added, at the first bad item."""
        items = [node] if isinstance(node, yaml.ScalarNode) else self.sequence(node, key)
        if items is None:
            return None
        values: list[str] = []
        for item in items:
            text = self.string(item, what)
            if text is None:
                return None
            try:
                value = check(text)
            except ValueError as exc:
                self.add(item, f"{error_prefix}{exc}")
                return None
            if value in values:
                self.add(item, twice(value))
                return None
            values.append(value)
        return tuple(values)

    # -- scalars --------------------------------------------------------------------------------

    def string(self, node: yaml.Node, what: str, *, allow_empty: bool = False) -> str | None:
        """A scalar as written (``1.10`` stays ``"1.10"``); null and collections are problems."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self.add(node, f"{what} must be a text value, not {describe(node)}")
            return None
        value = str(node.value)
        if node.tag == _BOOL:
            self.add(node, f"{what} must be text; quote {value!r} if you mean the word")
            return None
        if not value.strip() and not allow_empty:
            self.add(node, f"{what} must not be empty")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL:
            self.add(node, f"{what} must be true or false, not {describe(node)}")
            return None
        return bool(self._construct(node))

    def integer(self, node: yaml.Node, what: str, *, minimum: int) -> int | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
            self.add(node, f"{what} must be a whole number, not {describe(node)}")
            return None
        value = int(self._construct(node))
        if value < minimum:
            self.add(node, f"{what} must be at least {minimum}, not {value}")
            return None
        return value

    def number(self, node: yaml.Node, what: str) -> float | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_INT, _FLOAT):
            self.add(node, f"{what} must be a number, not {describe(node)}")
            return None
        value = float(self._construct(node))
        if not value > 0 or value == float("inf"):
            self.add(node, f"{what} must be a number above zero, not {node.value}")
            return None
        return value

    def int_or_string(self, node: yaml.Node, what: str) -> int | str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT:
            return int(self._construct(node))
        return self.string(node, what)

    def _construct(self, node: yaml.ScalarNode) -> Any:
        return self._loader.construct_object(node)


def describe(node: yaml.Node | None) -> str:
    """How a node reads to a person: 'a list', 'a mapping', 'nothing', 'the number 3'."""
    if node is None:
        return "nothing"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if node.tag == _NULL:
        return "nothing (an empty value)"
    if node.tag == _BOOL:
        return f"the boolean {node.value}"
    if node.tag in (_INT, _FLOAT):
        return f"the number {node.value}"
    if node.tag == _STR:
        return f"the text {node.value!r}"
    return f"{node.value!r}"


@dataclass
class Document:
    """One parsed file: its root node (None when empty) and the reader for its values."""

    file: Path
    root: yaml.Node | None
    reader: NodeReader


def read_document(file: Path, problems: list[Problem]) -> Document | None:
    """Read and parse one YAML file; None (with a problem recorded) when that is not possible."""
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem(
                    file,
                    1,
                    f"file is {size} bytes; configuration files are limited to "
                    f"{MAX_FILE_BYTES} bytes (split it into a directory of files)",
                )
            )
            return None
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problems.append(Problem(file, 1, f"cannot read the file: {exc.strerror or exc}"))
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.append(Problem(file, 1, f"file is larger than {MAX_FILE_BYTES} bytes"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"file is not UTF-8 text ({exc.reason} at byte {exc.start})"
        problems.append(Problem(file, 1, reason))
        return None
    return parse_document(text, file, problems)


def parse_document(text: str, file: Path, problems: list[Problem]) -> Document | None:
    """Parse YAML text that came from ``file``; None (with a problem recorded) when it is broken."""
    try:
        loader = _NoAliasLoader(text)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "invalid YAML"
        problems.append(Problem(file, line, f"invalid YAML: {reason}"))
        return None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        problems.append(
            Problem(file, line, f"invalid YAML: the character U+{exc.character:04X} is not allowed")
        )
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(file, 1, f"invalid YAML: {exc}"))
        return None
    except RecursionError:
        problems.append(Problem(file, 1, "invalid YAML: nested too deeply"))
        return None
    return Document(file, root, NodeReader(file, loader, problems))
