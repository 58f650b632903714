"""The documentation stays true: one table of environment variables equal to what ``Settings``
reads, links that lead somewhere inside the repository, and tests named in RELIABILITY.md that
exist."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings, SettingsError

CONFIGURATION = PROJECT_ROOT / "docs" / "configuration.md"
PAGES = sorted([PROJECT_ROOT / "README.md", PROJECT_ROOT / "RELIABILITY.md"])
PAGES += sorted((PROJECT_ROOT / "docs").glob("*.md"))

TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
VARIABLE = re.compile(r"\bAUTOBUILD_[A-Z0-9_]*[A-Z0-9]\b")
TEST_REFERENCE = re.compile(r"`((?:unit|integration)/test_\w+\.py)::(\w+)`")


class ReadRecorder(Mapping[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def documented_variables() -> list[str]:
    """The first cells of the environment table in docs/configuration.md."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    return TABLE_ROW.findall(section.split("\n### ", 1)[0])


def read_variables() -> set[str]:
    recorder = ReadRecorder()
    Settings.from_env(recorder)
    return recorder.names


def test_every_variable_settings_reads_is_in_the_table_and_every_row_is_read() -> None:
    documented = documented_variables()
    read = read_variables()
    assert "REDIS_URL" in read, "the recorder saw nothing: does from_env still read through?"
    assert sorted(read - set(documented)) == [], "read by Settings, missing in the table"
    assert sorted(set(documented) - read) == [], "in the table, read by nothing"


def test_the_table_lists_each_variable_once() -> None:
    documented = documented_variables()
    assert len(documented) == len(set(documented))


def test_every_documented_variable_changes_the_settings_or_is_refused() -> None:
    defaults = Settings.from_env({})
    for name in documented_variables():
        try:
            changed = Settings.from_env({name: "not-a-default/"})
        except SettingsError:
            continue
        assert changed != defaults, f"{name} is documented but setting it changes nothing"


def test_every_autobuild_variable_the_docs_name_is_in_the_configuration_page() -> None:
    listed = set(VARIABLE.findall(CONFIGURATION.read_text(encoding="utf-8")))
    for page in PAGES:
        named = set(VARIABLE.findall(page.read_text(encoding="utf-8")))
        assert sorted(named - listed) == [], f"{page.name} names variables configuration.md lacks"


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def links(page: Path) -> Iterator[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    for match in LINK.finditer(text):
        yield match.group(1)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_inside_the_repository(page: Path) -> None:
    for target in links(page):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s) and mailto links are examples, not files
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        assert resolved.is_relative_to(PROJECT_ROOT), f"{target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(resolved), f"{page.name}: no heading for #{anchor}"


def test_every_test_reliability_names_exists() -> None:
    text = (PROJECT_ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
    references = TEST_REFERENCE.findall(text)
    assert references
    for file, name in references:
        source = (PROJECT_ROOT / "tests" / file).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{file}::{name}"


def test_every_module_reliability_names_exists() -> None:
    text = (PROJECT_ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
    modules = re.findall(r"`((?:app|core|worker|cli|buildrules)/\w+\.py)`", text)
    assert modules
    assert [m for m in modules if not (PROJECT_ROOT / m).exists()] == []
