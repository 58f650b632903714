"""Which registries the API client speaks plain HTTP to, and when it sends the credentials to a
token service over plain HTTP: loopback, or hosts listed in ``AUTOBUILD_INSECURE_REGISTRIES``.

The registry and its token service here are LAN names, which a unit test must not reach: a
stand-in session answers instead, recording each request as the client made it. The token flow
against a real HTTP server on loopback is in test_worker_registry.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import requests

from app.context import AppContext
from app.images import ImageCatalog
from buildrules.model import Config
from cli.registry_access import open_registry
from core.readiness import registry_url
from core.registry_api import Credentials, RegistryAPI
from core.settings import Settings

DIGEST = "sha256:" + "ab" * 32
CREDS = Credentials("user", "secret-pw")


class RecordingSession(requests.Session):
    """Answers the manifest HEAD with a Bearer challenge naming ``realm`` until a token comes,
    and the realm with a token; records (method, url, auth) of every request."""

    def __init__(self, realm: str) -> None:
        super().__init__()
        self.realm = realm
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        method, url = str(method), str(url)
        self.calls.append((method, url, kwargs.get("auth")))
        response = requests.Response()
        response.url = url
        if url.startswith(self.realm):
            response.status_code = 200
            response._content = json.dumps({"token": "t0ken"}).encode()
        elif kwargs.get("headers", {}).get("Authorization") == "Bearer t0ken":
            response.status_code = 200
            response.headers["Docker-Content-Digest"] = DIGEST
        else:
            response.status_code = 401
            response.headers["WWW-Authenticate"] = f'Bearer realm="{self.realm}",service="reg"'
        return response


def ask(host: str, realm: str, insecure: frozenset[str]) -> RecordingSession:
    session = RecordingSession(realm)
    with RegistryAPI(host, CREDS, session=session, insecure_registries=insecure) as api:
        api.manifest_digest("team/app", "latest")
    return session


def test_a_listed_registry_is_spoken_to_over_http_with_its_http_token_service():
    listed = frozenset({"registry.lan:5000"})
    session = ask("registry.lan:5000", "http://registry.lan:5000/token", listed)
    challenged, (_, token_url, token_auth), answered = session.calls
    assert challenged == ("HEAD", "http://registry.lan:5000/v2/team/app/manifests/latest", None)
    assert token_url.startswith("http://registry.lan:5000/token")
    assert token_auth == ("user", "secret-pw")
    assert answered[:2] == challenged[:2]


def test_credentials_never_go_over_http_to_a_token_service_that_is_not_listed():
    listed = frozenset({"registry.lan:5000"})
    session = ask("registry.lan:5000", "http://auth.lan/token", listed)
    token_calls = [call for call in session.calls if call[1].startswith("http://auth.lan/token")]
    assert token_calls and all(auth is None for _, _, auth in token_calls)


def test_an_unlisted_registry_is_spoken_to_over_https_and_its_http_realm_gets_no_credentials():
    session = ask("registry.lan:5000", "http://registry.lan:5000/token", frozenset())
    assert session.calls[0][1].startswith("https://registry.lan:5000/v2/")
    token_calls = [call for call in session.calls if "/token" in call[1]]
    assert token_calls and all(auth is None for _, _, auth in token_calls)


def test_readiness_asks_a_listed_registry_over_http():
    assert registry_url("10.0.0.5:5000", frozenset({"10.0.0.5:5000"})) == (
        "http://10.0.0.5:5000/v2/"
    )
    assert registry_url("10.0.0.5:5000") == "https://10.0.0.5:5000/v2/"


def test_the_web_and_the_cli_make_their_registry_clients_from_the_setting(tmp_path: Path):
    settings = Settings.from_env(
        {
            "AUTOBUILD_CONFIG": str(tmp_path / "absent.yml"),
            "AUTOBUILD_INSECURE_REGISTRIES": "10.0.0.5:5000",
        }
    )
    context = cast(AppContext, SimpleNamespace(settings=settings, config=Config(), redis=None))
    with ImageCatalog(context).api("10.0.0.5:5000") as web:
        assert web.base_url == "http://10.0.0.5:5000"
    with open_registry("10.0.0.5:5000", settings) as cli:
        assert cli.base_url == "http://10.0.0.5:5000"
    with open_registry("10.0.0.6:5000", settings) as unlisted:
        assert unlisted.base_url == "https://10.0.0.6:5000"
