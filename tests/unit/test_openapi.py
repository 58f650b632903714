"""The OpenAPI document describes every webhook and API endpoint the app has, with the methods it
accepts, and is served at /api/v1/openapi.json."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import create_app, openapi
from buildrules.loader import load_text
from core.settings import Settings

CONFIG = """
repositories:
  - provider: github
    name: octo/hello
    clone_url: https://git.example.invalid/octo/hello.git
    image: 127.0.0.1:5000/octo/hello
    webhook_secret_env: HELLO_SECRET
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
"""
DOCUMENTED_PREFIXES = ("/api/v1", "/webhooks")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app():
    settings = Settings.from_env(
        {"AUTOBUILD_CONFIG": "unused.yml", "REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    return create_app(settings, load_text(CONFIG, Path("test.yml")))


def openapi_path(rule: str) -> str:
    """``/api/v1/builds/<build_id>`` -> ``/api/v1/builds/{build_id}`` (converters dropped)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_webhook_and_api_rule_is_described_with_its_methods(app):
    paths = openapi.document()["paths"]
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        path = openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is not in the OpenAPI document"
        methods = {m.lower() for m in (rule.methods or set()) - IGNORED_METHODS}
        assert methods <= set(paths[path]), f"{rule.rule}: {methods} vs {set(paths[path])}"
        checked += 1
    assert checked >= 8


def test_every_described_path_exists_in_the_app(app):
    rules = {openapi_path(rule.rule) for rule in app.url_map.iter_rules()}
    for path in openapi.document()["paths"]:
        assert path in rules, f"the document describes {path}, which the app does not have"


def test_every_path_parameter_is_declared(app):
    for path, item in openapi.document()["paths"].items():
        names = set(re.findall(r"{([a-z_]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method.upper()} {path}"
            assert operation["responses"], f"{method.upper()} {path} lists no answers"


def test_the_document_is_served_as_json(app):
    answer = app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.get_json() == openapi.document()
    assert answer.get_json()["openapi"].startswith("3.")


def test_every_ref_resolves():
    document = openapi.document()
    text = repr(document)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in document["components"]["schemas"], name
