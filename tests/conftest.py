"""Suite-wide pytest configuration and the fixtures every test may use.

Every test under ``tests/integration/`` is marked ``integration`` (needs the real Redis, Docker
daemon and registry from ``make services``): ``pytest -m "not integration"`` runs only the unit
tests, ``pytest -m integration`` only the others.

``settings`` -> ``app`` -> ``client`` build the web app the way Autobuild runs it, for the test.
The default ``settings`` are the bundled demo configuration with the test's own work directory and
queue name; a module that needs its own configuration or the real Redis overrides ``settings``
(pytest picks the closest definition), and ``app``, ``client`` and ``client_for`` follow it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.settings import Settings
from tests.webapp import make_app

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The demo configuration, with a work directory and an rq queue of the test's own."""
    return Settings.from_env(
        {
            "AUTOBUILD_WORKDIR": str(tmp_path / "work"),
            "AUTOBUILD_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        }
    )


@pytest.fixture
def app(settings: Settings) -> Flask:
    """The web app on ``settings`` (its configuration loaded from ``settings.config_path``)."""
    return make_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client of ``app``."""
    return app.test_client()


@pytest.fixture
def client_for(settings: Settings) -> Callable[..., FlaskClient]:
    """Test clients of the app on ``settings`` with some variables changed:
    ``client_for(AUTOBUILD_PRIVATE="1")``; ``None`` unsets a variable."""

    def build(**changes: str | None) -> FlaskClient:
        environ = {**settings.environ, **changes}
        changed = {name: value for name, value in environ.items() if value is not None}
        return make_app(Settings.from_env(changed)).test_client()

    return build
