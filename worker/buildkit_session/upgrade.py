"""``POST /session``: the Engine API call that turns a connection into a BuildKit session.

The request is written by hand on a socket of our own, not through ``requests``: it must carry one
``X-Docker-Expose-Session-Grpc-Method`` header line per method (the daemon reads each line as one
method and does not split a comma-joined value), and the connection must be ours to keep after the
daemon's ``101 Switching Protocols``. From then on the daemon speaks HTTP/2 on it as the gRPC
client, and we answer as the server (moby ``api/server/router/session``, BuildKit
``session/manager.go``).
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
UPGRADE_PROTOCOL = "h2c"


class SessionError(Exception):
    """The session could not be opened or ended abnormally; the text names the cause."""


def connect(api: Any, timeout: float) -> socket.socket:
    """A new connection to the daemon ``api`` (a ``docker.APIClient``) talks to: its unix
    socket, or TCP with the client's TLS settings."""
    base = str(api.base_url)
    adapter = api.get_adapter(base)
    socket_path = getattr(adapter, "socket_path", None)
    if socket_path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except OSError:
            sock.close()
            raise
        return sock
    url = urlsplit(base)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise SessionError(f"a BuildKit session needs a unix or TCP daemon address, not {base}")
    port = url.port or (443 if url.scheme == "https" else 80)
    plain = socket.create_connection((url.hostname, port), timeout=timeout)
    if url.scheme == "http":
        return plain
    try:
        return _tls_context(api).wrap_socket(plain, server_hostname=url.hostname)
    except (OSError, ssl.SSLError):
        plain.close()
        raise


def _tls_context(api: Any) -> ssl.SSLContext:
    """The TLS settings docker-py gave the client (``verify``: CA path or bool, ``cert``)."""
    verify = getattr(api, "verify", True)
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = getattr(api, "cert", None)
    if isinstance(cert, tuple):
        context.load_cert_chain(cert[0], cert[1])
    elif isinstance(cert, str):
        context.load_cert_chain(cert)
    return context


def upgrade_request(
    path: str, session_id: str, name: str, shared_key: str, methods: Iterable[str]
) -> bytes:
    """The HTTP/1.1 request that asks the daemon for a session exposing ``methods``."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: docker",
        "Content-Length: 0",
        "Connection: Upgrade",
        f"Upgrade: {UPGRADE_PROTOCOL}",
        f"X-Docker-Expose-Session-Uuid: {session_id}",
        f"X-Docker-Expose-Session-Name: {name}",
        f"X-Docker-Expose-Session-Sharedkey: {shared_key}",
        *(f"X-Docker-Expose-Session-Grpc-Method: {method}" for method in methods),
    ]
    for line in lines:
        if "\r" in line or "\n" in line:
            raise ValueError(f"line break in a session header: {line!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_upgrade(sock: socket.socket) -> bytes:
    """Read the daemon's answer up to the end of its headers; return the bytes after them (the
    start of the HTTP/2 stream). Anything but ``101`` raises :class:`SessionError` with the
    daemon's message."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_HEAD_BYTES:
            raise SessionError("the daemon's answer to POST /session has no end of headers")
        chunk = sock.recv(65536)
        if not chunk:
            raise SessionError("the daemon closed the connection instead of opening a session")
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        detail = _error_text(rest) or status_line
        raise SessionError(f"the daemon refused the BuildKit session: {detail}")
    upgrade = {
        key.strip().lower(): value.strip()
        for key, _, value in (line.partition(":") for line in header_lines)
    }.get("upgrade", "")
    if upgrade.lower() != UPGRADE_PROTOCOL:
        raise SessionError(f"the daemon upgraded the session to {upgrade!r}, not h2c")
    return rest


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{") and '"message"' in text:
        try:
            message = json.loads(text).get("message")
        except ValueError:
            return text[:300]
        return str(message)[:300]
    return text[:300]
