"""The HTTP client the terminal commands (``builds``, ``logs``, ``trigger``) share.

It talks to the web process's JSON API at ``AUTOBUILD_URL`` (default http://127.0.0.1:8000) and
sends ``AUTOBUILD_TOKEN`` (else ``AUTOBUILD_ADMIN_TOKEN``) as a bearer token when one is set.
Every failure becomes a :class:`ClientError` whose message is one line for a person: the commands
print it as ``autobuild <command>: <message>`` and exit 1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from buildrules.model import PROVIDERS
from core.settings import Settings, SettingsError

DEFAULT_TIMEOUT = 10.0
STREAM_READ_TIMEOUT = 60.0  # the server sends a keep-alive comment every second or so
MAX_RECONNECTS = 5
RECONNECT_DELAY = 1.0


class ClientError(Exception):
    """A request that did not give an answer the command can use. One line, for a person."""


class RefusedError(ClientError):
    """The server answered, with an HTTP error status."""


@dataclass(frozen=True)
class LogEvent:
    """One Server-Sent Event of a build's log: a ``line`` or the ``end`` with the status."""

    kind: str  # "line" | "end"
    data: dict[str, Any]
    id: str | None = None


def split_repository(value: str) -> tuple[str | None, str]:
    """``provider/name`` (the provider one of the known ones) or a bare ``name``."""
    first, _, rest = value.strip().partition("/")
    if first in PROVIDERS and rest:
        return first, rest
    return None, value.strip()


def render_line(data: Mapping[str, Any]) -> str:
    """A log line as the plain-text log shows it: ``HH:MM:SS text``."""
    text = str(data.get("text", ""))
    try:
        stamp = datetime.fromisoformat(str(data["time"])).strftime("%H:%M:%S")
    except (KeyError, ValueError):
        return text
    return f"{stamp} {text}"


def parse_event_stream(lines: Iterator[str]) -> Iterator[LogEvent]:
    """Server-Sent Events from the decoded lines of a ``text/event-stream`` body."""
    kind, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError as exc:
                    raise ClientError("The server sent a log event that is not JSON.") from exc
                yield LogEvent(kind, payload if isinstance(payload, dict) else {}, event_id)
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a keep-alive comment
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value


class ApiClient:
    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "autobuild-cli"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiClient:
        try:
            settings = Settings.from_env(environ)
        except SettingsError as exc:
            raise ClientError(str(exc)) from exc
        return cls(settings.url, settings.api_token)

    def url(self, path: str) -> str:
        return self.base_url + path

    def build_url(self, build_id: str) -> str:
        """The build's page in the web UI."""
        return self.url(f"/builds/{quote(build_id, safe='')}")

    # -- requests --------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except requests.exceptions.ConnectionError as exc:
            raise ClientError(
                f"cannot reach Autobuild at {self.base_url} ({_reason(exc)}); is `autobuild web` "
                "running there? Set AUTOBUILD_URL to its address."
            ) from None
        except requests.exceptions.Timeout:
            raise ClientError(
                f"Autobuild at {self.base_url} did not answer within {self.timeout:g} s."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ClientError(f"the request to {self.base_url} failed: {exc}") from None
        if response.status_code >= 400:
            raise RefusedError(self._refusal(response))
        return response

    def _refusal(self, response: requests.Response) -> str:
        message = None
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                message = body["error"]
        except ValueError:
            pass
        if message is None:
            message = f"{response.reason or 'error'} (not an Autobuild answer?)"
        hint = ""
        if response.status_code == 401 and not self.token:
            hint = " Set AUTOBUILD_TOKEN (a trigger token or the admin token)."
        response.close()
        return f"HTTP {response.status_code}: {message}{hint}"

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ClientError(
                f"{self.base_url} answered HTTP {response.status_code} with {kind}, not "
                "Autobuild's JSON; is AUTOBUILD_URL the address of `autobuild web`?"
            ) from None

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._json(self._request("GET", path, params=params))

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._json(self._request("POST", path, json=body))

    # -- the API -----------------------------------------------------------------------------
    def builds(
        self, repository: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        params = {"limit": str(limit)}
        if repository:
            provider, name = split_repository(repository)
            params["repository"] = name
            if provider:
                params["provider"] = provider
        if status:
            params["status"] = status
        answer = self.get_json("/api/v1/builds", params)
        builds: list[dict[str, Any]] = answer.get("builds", []) if isinstance(answer, dict) else []
        return builds

    def build(self, build_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.get_json(f"/api/v1/builds/{quote(build_id, safe='')}")
        return answer

    def log_text(self, build_id: str) -> str:
        return self._request("GET", f"/api/v1/builds/{quote(build_id, safe='')}/logs").text

    def follow_log(self, build_id: str) -> Iterator[LogEvent]:
        """The log as Server-Sent Events until the ``end`` event; a dropped connection is
        resumed after the last line received (a few times), so no line is lost or repeated. A
        stream the server ends on time (a ``reconnect`` event) is resumed at once, every time."""
        path = f"/api/v1/builds/{quote(build_id, safe='')}/logs"
        after = "0"
        failures = 0
        connected = False
        while True:
            renewed = False
            try:
                response = self._request(
                    "GET",
                    path,
                    params={"after": after},
                    headers={"Accept": "text/event-stream"},
                    stream=True,
                    timeout=(self.timeout, STREAM_READ_TIMEOUT),
                )
                connected = True
                with response:
                    lines = response.iter_lines(decode_unicode=True)
                    for event in parse_event_stream(line or "" for line in lines):
                        if event.kind == "end":
                            yield event
                            return
                        if event.kind == "reconnect":
                            renewed = True
                            break
                        if event.id:
                            after = event.id
                        failures = 0
                        yield event
            except RefusedError:
                raise
            except (requests.exceptions.RequestException, ClientError) as exc:
                failures += 1
                if failures > MAX_RECONNECTS or not connected:
                    if isinstance(exc, ClientError):
                        raise
                    raise ClientError(f"the log stream from {self.base_url} broke: {exc}") from None
            else:
                if renewed:  # the server's time limit on one stream
                    failures = 0
                    continue
                # the stream ended without an ``end`` event (the server restarted): resume
                failures += 1
                if failures > MAX_RECONNECTS:
                    raise ClientError(f"the log stream from {self.base_url} keeps ending early.")
            time.sleep(RECONNECT_DELAY)

    def trigger(self, provider: str, name: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        path = f"/api/v1/repositories/{quote(provider, safe='')}/{quote(name, safe='/')}/trigger"
        answer = self.post_json(path, body)
        builds: list[dict[str, Any]] = answer.get("builds", []) if isinstance(answer, dict) else []
        return builds


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host",
                  "timed out", "Connection reset"):  # fmt: skip
        if known in text:
            return known.lower()
    return "connection failed"
