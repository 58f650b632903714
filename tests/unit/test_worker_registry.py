"""Asking a registry for a tag's digest: URLs, credentials, and the Basic and Bearer challenges.

The real registries (no auth, and htpasswd Basic auth) are exercised by the integration tests;
the token (Bearer) flow that Docker Hub, GHCR, Harbor and GitLab use is answered here by a small
HTTP server on loopback.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from buildrules.model import Config, RegistryAuth
from core.registry_address import is_loopback, plain_http, registry_base_url
from core.settings import Settings
from worker.errors import DigestMismatchError, RegistryError, WorkerError
from worker.registry import (
    MANIFEST_TYPES,
    Credentials,
    RegistryClient,
    parse_challenge,
    repository_name,
    resolve_credentials,
    verify_digest,
)

DIGEST = "sha256:" + "12" * 32
OTHER = "sha256:" + "34" * 32


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.0.0.2", True),
        ("localhost:5001", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.5:5000", False),
        ("ghcr.io", False),
    ],
)
def test_loopback_registries_are_spoken_to_over_http(host, loopback):
    assert is_loopback(host) is loopback
    assert registry_base_url(host).startswith("http://" if loopback else "https://")


def test_listed_insecure_registries_are_spoken_to_over_http_and_no_others():
    listed = frozenset({"10.0.0.5:5000", "registry.lan"})
    assert registry_base_url("10.0.0.5:5000", listed) == "http://10.0.0.5:5000"
    assert registry_base_url("Registry.LAN", listed) == "http://Registry.LAN"
    assert registry_base_url("127.0.0.1:5000", listed) == "http://127.0.0.1:5000"
    # as dockerd's --insecure-registry: an entry is one host and port, not a prefix or a network
    assert registry_base_url("10.0.0.5:5001", listed) == "https://10.0.0.5:5001"
    assert registry_base_url("registry.lan:5000", listed) == "https://registry.lan:5000"
    assert registry_base_url("10.0.0.5", listed) == "https://10.0.0.5"
    assert not plain_http("ghcr.io", listed)
    assert (
        registry_base_url("docker.io", frozenset({"docker.io"})) == "https://registry-1.docker.io"
    )


def test_docker_hub_names_live_under_library():
    assert registry_base_url("docker.io") == "https://registry-1.docker.io"
    assert repository_name("docker.io", "busybox") == "library/busybox"
    assert repository_name("docker.io", "me/app") == "me/app"
    assert repository_name("127.0.0.1:5000", "app") == "app"


def test_challenges_are_parsed():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:me/app:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:me/app:pull",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def settings_with(**environ: str) -> Settings:
    return Settings(config_path=Path("x.yml"), environ=environ)


def test_credentials_come_from_the_variables_the_configuration_names():
    config = Config(registries=(RegistryAuth("127.0.0.1:5001", "REG_USER", "REG_PASS"),))
    found = resolve_credentials(
        config, settings_with(REG_USER="u", REG_PASS="p4ssword"), "127.0.0.1:5001"
    )
    assert found == Credentials("u", "p4ssword")
    assert "p4ssword" not in repr(found)
    assert resolve_credentials(config, settings_with(), "127.0.0.1:5000") is None


def test_configured_but_unset_credentials_are_an_error_naming_the_variable():
    config = Config(registries=(RegistryAuth("127.0.0.1:5001", "REG_USER", "REG_PASS"),))
    with pytest.raises(WorkerError, match="REG_PASS is not set"):
        resolve_credentials(config, settings_with(REG_USER="u"), "127.0.0.1:5001")


# --- a registry on loopback ----------------------------------------------------------------------


class FakeRegistry(BaseHTTPRequestHandler):
    """Answers manifests HEADs behind Basic or Bearer auth, like distribution does."""

    mode = "bearer"
    manifests: dict[str, str] = {}
    seen: list[dict[str, str]] = []
    token_requests: list[dict[str, list[str]]] = []

    def log_message(self, *args):
        pass

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if self.mode == "open":
            return True
        if self.mode == "basic":
            return header == "Basic " + base64.b64encode(b"user:secret-pw").decode()
        return header == "Bearer good-token"

    def do_HEAD(self):
        self.seen.append(dict(self.headers.items()))
        if not self._authorized():
            self.send_response(401)
            if self.mode == "basic":
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
            else:
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"  # type: ignore[index]
                self.send_header(
                    "WWW-Authenticate", f'Bearer realm="{realm}",service="fake-registry"'
                )
            self.end_headers()
            return
        name_tag = self.path.removeprefix("/v2/").replace("/manifests/", ":")
        digest = self.manifests.get(name_tag)
        self.send_response(200 if digest else 404)
        if digest:
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Type", MANIFEST_TYPES[0])
        self.end_headers()

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path != "/token":
            self.send_response(404)
            self.end_headers()
            return
        self.token_requests.append(parse_qs(parts.query))
        expected = "Basic " + base64.b64encode(b"user:secret-pw").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"token": "good-token"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_registry() -> Iterator[tuple[str, type[FakeRegistry]]]:
    handler = type("Handler", (FakeRegistry,), {"manifests": {}, "seen": [], "token_requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


CREDS = Credentials("user", "secret-pw")


def test_the_bearer_token_flow_is_followed_with_the_configured_credentials(fake_registry):
    host, handler = fake_registry
    handler.manifests["team/app:latest"] = DIGEST
    with RegistryClient(host, CREDS, timeout=5) as client:
        assert client.manifest_digest("team/app", "latest") == DIGEST
        verify_digest(client, "team/app", "latest", DIGEST)
    (token_request,) = handler.token_requests[:1]
    assert token_request == {"scope": ["repository:team/app:pull"], "service": ["fake-registry"]}
    accept = handler.seen[0]["Accept"]
    assert all(media_type in accept for media_type in MANIFEST_TYPES)


def test_basic_auth_is_answered_when_challenged(fake_registry):
    host, handler = fake_registry
    handler.mode = "basic"
    handler.manifests["app:v1"] = DIGEST
    with RegistryClient(host, CREDS, timeout=5) as client:
        assert client.manifest_digest("app", "v1") == DIGEST


def test_a_refusal_says_no_credentials_are_configured(fake_registry):
    host, handler = fake_registry
    handler.manifests["app:v1"] = DIGEST
    with (
        RegistryClient(host, None, timeout=5) as client,
        pytest.raises(
            RegistryError, match=r"refused to show app:v1: HTTP 401 \(no credentials are configured"
        ),
    ):
        client.manifest_digest("app", "v1")


def test_a_missing_tag_or_another_digest_is_not_a_confirmation(fake_registry):
    host, handler = fake_registry
    handler.mode = "open"
    handler.manifests["app:v1"] = OTHER
    with RegistryClient(host, None, timeout=5) as client:
        assert client.manifest_digest("app", "nope") is None
        with pytest.raises(RegistryError, match=r"does not have .*app:nope after pushing it"):
            verify_digest(client, "app", "nope", DIGEST)
        with pytest.raises(DigestMismatchError, match=f"holds {host}/app:v1 with digest {OTHER}"):
            verify_digest(client, "app", "v1", DIGEST)


def test_an_unreachable_registry_is_an_error_naming_it():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        RegistryClient(f"127.0.0.1:{port}", None, timeout=2) as client,
        pytest.raises(
            RegistryError, match=rf"^Registry 127.0.0.1:{port} unreachable: Connection refused"
        ),
    ):
        client.manifest_digest("app", "latest")
