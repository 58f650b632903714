"""Is the Docker daemon answering? A raw ``GET /_ping``, so the web process needs no Docker SDK."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlparse

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()  # a daemon that is down leaves no socket behind
            raise
        self.sock = sock


def ping_docker(docker_host: str | None, timeout: float = 2.0) -> str | None:
    """None when the daemon answers ``OK``; otherwise a sentence saying what went wrong."""
    url = urlparse(docker_host or DEFAULT_DOCKER_HOST)
    connection: http.client.HTTPConnection
    if url.scheme == "unix":
        connection = _UnixConnection(url.path, timeout)
    elif url.scheme in ("tcp", "http"):
        connection = http.client.HTTPConnection(
            url.hostname or "127.0.0.1", url.port or 2375, timeout=timeout
        )
    elif url.scheme == "https":
        connection = http.client.HTTPSConnection(
            url.hostname or "127.0.0.1", url.port or 2376, timeout=timeout
        )
    else:
        return f"Docker daemon address {docker_host!r} has an unsupported scheme."
    try:
        connection.request("GET", "/_ping")
        response = connection.getresponse()
        body = response.read(64)
    except OSError as exc:
        return f"Docker daemon unreachable at {url.geturl()}: {exc.strerror or exc}."
    finally:
        connection.close()
    if response.status != 200 or body.strip() != b"OK":
        return f"Docker daemon at {url.geturl()} answered {response.status}."
    return None
