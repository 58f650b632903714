"""Suite-wide pytest configuration.

Every test under ``tests/integration/`` is marked ``integration`` (needs the real Redis, Docker
daemon and registry from ``make services``): ``pytest -m "not integration"`` runs only the unit
tests, ``pytest -m integration`` only the others.
"""

from __future__ import annotations

from pathlib import Path

import pytest

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
