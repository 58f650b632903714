"""The one way the tests build the web app: the factory on given settings, its configuration
loaded from ``settings.config_path``, in testing mode. The ``app``, ``client`` and ``client_for``
fixtures (tests/conftest.py) use it; tests with a configuration of their own call it directly."""

from __future__ import annotations

from flask import Flask

from app import create_app
from buildrules.loader import load
from core.settings import Settings


def make_app(settings: Settings) -> Flask:
    app = create_app(settings, load(settings.config_path))
    app.testing = True
    return app
