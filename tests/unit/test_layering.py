"""The layering written down in core's package docstring, held by reading every import (ast)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import BASE_MODULES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "buildrules", "cli", "core", "worker")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, at the top or inside a function (relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


MODULES = sources()
IMPORTS = {name: set(imports_of(name, path)) for name, path in MODULES.items()}


def under(imported: str, *roots: str) -> bool:
    return any(imported == root or imported.startswith(root + ".") for root in roots)


def offending(modules: list[str], *roots: str) -> dict[str, list[str]]:
    found = {name: sorted(i for i in IMPORTS[name] if under(i, *roots)) for name in modules}
    return {name: bad for name, bad in found.items() if bad}


def in_package(*packages: str) -> list[str]:
    return sorted(name for name in MODULES if under(name, *packages))


def test_the_sources_are_found():
    assert {"app.webhooks", "core.dispatch", "worker.jobs", "buildrules.model"} <= set(MODULES)
    assert set(MODULES) >= BASE_MODULES


def test_the_web_never_imports_worker_code_or_the_docker_sdk():
    assert offending(in_package("app"), "worker", "docker") == {}


def test_the_worker_never_imports_flask_or_the_web():
    assert offending(in_package("worker"), "flask", "werkzeug", "app") == {}


def test_core_never_imports_the_web_the_worker_the_cli_flask_or_docker():
    assert offending(in_package("core"), "app", "worker", "cli", "flask", "docker") == {}


def test_base_modules_import_no_rules_and_no_core_module_above_them():
    upper_core = sorted(set(in_package("core")) - BASE_MODULES - {"core"})
    assert offending(sorted(BASE_MODULES), "buildrules", *upper_core) == {}


def test_the_rule_language_imports_only_base_modules_of_core():
    upper_core = sorted(set(in_package("core")) - BASE_MODULES - {"core"})
    outside = ("app", "worker", "cli", "flask", "docker", "redis", "rq", *upper_core)
    assert offending(in_package("buildrules"), *outside) == {}


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = {i for i in IMPORTS[name] if i in MODULES and i != name}
        graph[name] = {t for t in targets if t not in name.split(".")[:1]}  # not its package
    return graph


def test_there_are_no_import_cycles():
    graph = internal_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        ("core.x", "from core.store import BuildStore", {"core.store", "core.store.BuildStore"}),
        ("app.x", "from .auth import bearer_token", {"app.auth", "app.auth.bearer_token"}),
        ("app.hosts.x", "from ..errors import ApiError", {"app.errors", "app.errors.ApiError"}),
        ("core.x", "def f():\n    import docker\n", {"docker"}),
    ],
)
def test_imports_are_read_inside_functions_and_relative_ones_resolved(
    tmp_path, importer, source, expected
):
    path = tmp_path / "x.py"
    path.write_text(source)
    assert set(imports_of(importer, path)) == expected
