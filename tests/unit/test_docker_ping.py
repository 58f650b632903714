"""``ping_docker`` against daemons that are not there: a sentence, and no socket left open."""

from __future__ import annotations

import socket

import pytest

from core.docker_ping import ping_docker


def test_an_absent_unix_socket_is_reported_and_its_socket_closed(tmp_path, monkeypatch):
    opened: list[socket.socket] = []

    class Recorded(socket.socket):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            opened.append(self)

    monkeypatch.setattr(socket, "socket", Recorded)  # what core.docker_ping calls
    missing = tmp_path / "docker.sock"

    problem = ping_docker(f"unix://{missing}")

    assert problem is not None
    assert problem.startswith("Docker daemon unreachable at unix:") and str(missing) in problem
    assert len(opened) == 1
    assert opened[0].fileno() == -1, "the socket of the failed connect was left open"


def test_an_unsupported_scheme_is_a_sentence_not_a_crash():
    assert ping_docker("ftp://127.0.0.1") == (
        "Docker daemon address 'ftp://127.0.0.1' has an unsupported scheme."
    )


@pytest.mark.parametrize("host", ["tcp://127.0.0.1:1", "http://127.0.0.1:1"])
def test_a_closed_tcp_port_is_reported(host):
    problem = ping_docker(host, timeout=2.0)
    assert problem is not None and problem.startswith(f"Docker daemon unreachable at {host}: ")
