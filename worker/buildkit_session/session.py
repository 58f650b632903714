"""A BuildKit session for one build: open it, name it in ``POST /build?version=2``, close it.

::

    with BuildSession.open(api, secrets={"NPM_TOKEN": b"..."},
                           registry_auth={"registry.example:5000": ("user", "password")}) as s:
        api._post(api._url("/build"), params={"version": "2", "session": s.id, ...}, ...)

The session is a connection of its own to the daemon (``POST /session``, upgraded to HTTP/2, on
which the daemon calls us). A thread answers the daemon's calls until the ``with`` block ends, the
daemon goes, or ``lifetime`` seconds pass, whichever is first. Leaving the block closes the
connection, which makes the daemon forget the session and its secrets.
"""

from __future__ import annotations

import contextlib
import secrets as random
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import h2.exceptions

from worker.buildkit_session.server import GrpcConnection, Served
from worker.buildkit_session.services import Method, session_methods
from worker.buildkit_session.upgrade import SessionError, connect, read_upgrade, upgrade_request

DEFAULT_LIFETIME_SECONDS = 6 * 60 * 60
CONNECT_TIMEOUT_SECONDS = 30.0
SESSION_NAME = "autobuild"


class BuildSession:
    """An open session: ``id`` goes into the build's ``session`` parameter; ``calls`` lists what
    the daemon asked for so far (methods and statuses, never values)."""

    def __init__(
        self, session_id: str, sock: socket.socket, methods: Mapping[str, Method], initial: bytes
    ) -> None:
        self.id = session_id
        self._calls: list[Served] = []
        self._lock = threading.Lock()
        self._connection = GrpcConnection(sock, methods, initial, self._record)
        self._thread: threading.Thread | None = None
        self.ended: str | None = None  # why the server loop ended, once it has
        self.error: Exception | None = None  # what ended it, when that was a failure

    @property
    def calls(self) -> tuple[Served, ...]:
        with self._lock:
            return tuple(self._calls)

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        api: Any,
        *,
        secrets: Mapping[str, bytes] | None = None,
        registry_auth: Mapping[str, tuple[str, str]] | None = None,
        lifetime: float = DEFAULT_LIFETIME_SECONDS,
    ) -> Iterator[BuildSession]:
        """Open a session on the daemon ``api`` (a ``docker.APIClient``) offering ``secrets``
        (id → value) and ``registry_auth`` (registry host → (username, password)). Raises
        :class:`SessionError` when the daemon refuses it or cannot be reached."""
        methods = session_methods(secrets or {}, registry_auth or {})
        session_id = random.token_hex(16)
        deadline = time.monotonic() + lifetime
        path = urlsplit(api._url("/session")).path
        request = upgrade_request(path, session_id, SESSION_NAME, session_id, sorted(methods))
        try:
            sock = connect(api, min(CONNECT_TIMEOUT_SECONDS, lifetime))
        except OSError as exc:
            raise SessionError(
                f"cannot reach the Docker daemon for a BuildKit session: {exc}"
            ) from exc
        try:
            sock.sendall(request)
            initial = read_upgrade(sock)
        except OSError as exc:
            sock.close()
            raise SessionError(f"the BuildKit session request failed: {exc}") from exc
        except SessionError:
            sock.close()
            raise
        session = cls(session_id, sock, methods, initial)
        session._start(deadline)
        try:
            yield session
        finally:
            session.close()
            sock.close()

    def _record(self, served: Served) -> None:
        with self._lock:
            self._calls.append(served)

    def _start(self, deadline: float) -> None:
        def run() -> None:
            try:
                self.ended = self._connection.serve(deadline)
            except (OSError, h2.exceptions.H2Error) as exc:
                self.error = exc
                self.ended = f"failed: {type(exc).__name__}: {exc}"
            finally:  # the daemon sees the connection go and drops the session at once
                self._connection.stop()

        self._thread = threading.Thread(target=run, name=f"buildkit-session-{self.id}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """End the session: the daemon sees the connection go and drops it."""
        self._connection.stop()
        if self._thread is not None:
            self._thread.join(timeout)
