"""``autobuild workers``: one line per worker, a lost one marked so."""

from __future__ import annotations

from datetime import UTC, datetime

from cli.builds import format_columns
from cli.workers import COLUMNS, rows
from core.capabilities import Capabilities
from core.workers import WorkerView


def view(**changes):
    fields = {
        "name": "w1",
        "host": "build-1",
        "daemon": "ABCD:EFGH:IJKL:MNOP",
        "state": "busy",
        "current_build": "0123456789abcdef",
        "builds_done": 3,
        "last_heartbeat": datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC),
        "ttl_seconds": 90,
    }
    return WorkerView(**{**fields, **changes})


def test_a_busy_worker_shows_its_host_daemon_build_count_and_capabilities():
    offers = Capabilities(platforms=("linux/amd64", "linux/arm64"), labels=("big-memory",))
    (line,) = rows([view(capabilities=offers).to_json()])
    assert line == (
        "build-1",
        "ABCD:EFGH:IJ",
        "busy",
        "01234567",
        "3",
        "2026-12-04T12:00:00Z",
        "big-memory",
        "linux/amd64,linux/arm64",
        "w1",
    )


def test_a_lost_worker_says_lost_and_unknowns_are_dashes():
    lost = view(state="lost", daemon=None, current_build=None, last_heartbeat=None)
    data = lost.to_json()
    assert data["lost"] is True
    (line,) = rows([data])
    assert line[1:4] == ("-", "LOST", "-") and line[5] == "-"
    assert line[6:8] == ("-", "-")  # a worker that never said what it offers
    table = format_columns(COLUMNS, rows([data, view(name="w2").to_json()]))
    assert table.splitlines()[0].startswith("HOST")
    assert len(table.splitlines()) == 3
