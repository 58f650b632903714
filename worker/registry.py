"""The registry's HTTP API: what digest does it hold for a tag?

Used after every push: ``HEAD /v2/<name>/manifests/<tag>`` with Accept for OCI manifests and indexes
and Docker schema 2 manifests and lists, answering the registry's authentication challenge (Basic,
or Bearer through its token service) with the configured credentials. The push stream's digest
only counts once the registry answers the tag with that same digest.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from buildrules.model import Config
from core.registry_address import DOCKER_HUB, is_loopback, registry_base_url
from core.settings import Settings
from worker.errors import DigestMismatchError, RegistryError, WorkerError

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def auth_config(self) -> dict[str, str]:
        """As the Docker SDK's ``auth_config`` takes them."""
        return {"username": self.username, "password": self.password}


def resolve_credentials(config: Config, settings: Settings, host: str) -> Credentials | None:
    """The configured credentials for registry ``host``; None when the configuration has none.

    A registry entry whose variables are unset is an error: pushing anonymously instead would fail
    later with a less helpful message (or succeed somewhere it should not)."""
    entry = config.registry_auth(host)
    if entry is None or not (entry.username_env or entry.password_env):
        return None
    missing = [
        name
        for name in (entry.username_env, entry.password_env)
        if not name or not settings.secret(name)
    ]
    if missing:
        names = " and ".join(n for n in missing if n) or "username_env/password_env"
        raise WorkerError(f"Credentials for registry {host} are configured, but {names} is not set")
    username = settings.secret(entry.username_env)
    password = settings.secret(entry.password_env)
    assert username is not None and password is not None
    return Credentials(username, password)


def repository_name(host: str, path: str) -> str:
    """The repository name in API paths (Docker Hub's official images live under ``library/``)."""
    if host == DOCKER_HUB and "/" not in path:
        return f"library/{path}"
    return path


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="https://auth",service="reg"`` -> ("bearer", {"realm": ..., ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def short_reason(exc: BaseException) -> str:
    """The useful end of a requests/urllib3 error ("Connection refused", "timed out")."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return text[:200]


class RegistryClient:
    """Reads manifests' digests from one registry."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        session: requests.Session | None = None,
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        self.base_url = registry_base_url(host)
        self.session = session or requests.Session()
        self.session.trust_env = False  # no proxies or ~/.netrc credentials from the environment
        self._authorization: str | None = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self, method: str, url: str, headers: Mapping[str, str], **kwargs: Any
    ) -> requests.Response:
        try:
            return self.session.request(
                method,
                url,
                headers=dict(headers),
                timeout=self.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.exceptions.RequestException as exc:
            raise RegistryError(f"Registry {self.host} unreachable: {short_reason(exc)}") from exc

    def _authorize(self, response: requests.Response, scope: str) -> bool:
        """Answer a 401's challenge; True when there is a new Authorization to try."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if self.credentials is None:
                return False
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
            return True
        if scheme == "bearer" and params.get("realm"):
            token = self._bearer_token(
                params["realm"], params.get("service"), params.get("scope") or scope
            )
            if token:
                self._authorization = f"Bearer {token}"
                return True
        return False

    def _bearer_token(self, realm: str, service: str | None, scope: str) -> str | None:
        query = {"scope": scope}
        if service:
            query["service"] = service
        auth = None
        realm_secure = realm.startswith("https://") or is_loopback(
            re.sub(r"^[a-z]+://", "", realm).split("/", 1)[0]
        )
        if self.credentials is not None and realm_secure:
            auth = (self.credentials.username, self.credentials.password)
        response = self._request("GET", realm, {}, params=query, auth=auth)
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        return str(token) if token else None

    def manifest_digest(self, name: str, reference: str) -> str | None:
        """The ``Docker-Content-Digest`` the registry answers for ``name:reference``; None when it
        does not have it (404)."""
        url = f"{self.base_url}/v2/{repository_name(self.host, name)}/manifests/{reference}"
        scope = f"repository:{repository_name(self.host, name)}:pull"
        headers = {"Accept": MANIFEST_ACCEPT}
        for _attempt in range(2):
            if self._authorization:
                headers["Authorization"] = self._authorization
            response = self._request("HEAD", url, headers)
            if response.status_code == 401 and _attempt == 0 and self._authorize(response, scope):
                continue
            break
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            hint = (
                "no credentials are configured"
                if self.credentials is None
                else "check the credentials"
            )
            raise RegistryError(
                f"Registry {self.host} refused to show {name}:{reference}:"
                f" HTTP {response.status_code}"
                f" ({hint} for {self.host})"
            )
        if response.status_code != 200:
            raise RegistryError(
                f"Registry {self.host} answered HTTP {response.status_code} for {name}:{reference}"
            )
        digest = response.headers.get("Docker-Content-Digest", "").strip()
        if not DIGEST_RE.fullmatch(digest):
            raise RegistryError(
                f"Registry {self.host} did not answer {name}:{reference} with a content digest"
            )
        return digest


def verify_digest(client: RegistryClient, name: str, tag: str, expected: str) -> None:
    """Raise unless the registry holds ``name:tag`` with digest ``expected``."""
    actual = client.manifest_digest(name, tag)
    reference = f"{client.host}/{name}:{tag}"
    if actual is None:
        raise RegistryError(f"Registry {client.host} does not have {reference} after pushing it")
    if actual != expected:
        raise DigestMismatchError(
            f"Registry {client.host} holds {reference} with digest {actual},"
            f" but the push reported {expected}"
        )
