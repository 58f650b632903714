"""The Distribution registry's HTTP API, as the web process, the worker and the CLI speak it.

One client per registry host: it answers the registry's authentication challenge (Basic, or Bearer
through its token service) with the configured credentials, and reads and writes manifests, blobs,
tag lists and the catalog. It never follows redirects and never reads proxies or ``~/.netrc`` from
the environment. Errors are :class:`RegistryAPIError` (a subclass may name another class in
``error``, as the worker does to make them infrastructure failures).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import urljoin

import requests

from buildrules.model import Config, registry_host_of
from core.registry_address import DOCKER_HUB, plain_http, registry_base_url
from core.settings import Settings

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # manifests, configs and envelopes are small documents


class RegistryAPIError(RuntimeError):
    """The registry could not be reached, refused, or answered something unusable."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def auth_config(self) -> dict[str, str]:
        """As the Docker SDK's ``auth_config`` takes them."""
        return {"username": self.username, "password": self.password}


def configured_credentials(config: Config, settings: Settings, host: str) -> Credentials | None:
    """The configured credentials for registry ``host``; None when the configuration has none.

    A registry entry whose variables are unset is an error: going on anonymously instead would
    fail later with a less helpful message (or succeed somewhere it should not)."""
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
        raise RegistryAPIError(
            f"Credentials for registry {host} are configured, but {names} is not set"
        )
    username = settings.secret(entry.username_env)
    password = settings.secret(entry.password_env)
    assert username is not None and password is not None
    return Credentials(username, password)


def split_image(image: str) -> tuple[str, str]:
    """``127.0.0.1:5000/team/app`` -> (``127.0.0.1:5000``, ``team/app``)."""
    host = registry_host_of(image)
    return host, image[len(host) + 1 :] if image.startswith(host + "/") else image


def split_reference(reference: str) -> tuple[str, str]:
    """``host/repo@sha256:..`` -> (``host/repo``, digest); ``host/repo:tag`` -> (.., ``tag``);
    no tag -> ``latest``."""
    if "@" in reference:
        image, digest = reference.split("@", 1)
        return image, digest
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = reference.rsplit(":", 1)
        return image, tag
    return reference, "latest"


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


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A manifest (or index) as the registry serves it: its bytes, type and digest."""

    digest: str
    media_type: str
    body: bytes = field(repr=False)

    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        if not isinstance(data, dict):
            raise ValueError("a manifest is a JSON object")
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


class RegistryAPI:
    """One registry's HTTP API, with its credentials. ``insecure_registries`` (the settings'
    ``AUTOBUILD_INSECURE_REGISTRIES``) are the hosts besides loopback spoken to over plain HTTP,
    the registry's own and its token service's."""

    error: ClassVar[type[Exception]] = RegistryAPIError

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        session: requests.Session | None = None,
        *,
        insecure_registries: frozenset[str] = frozenset(),
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        self.insecure_registries = insecure_registries
        self.base_url = registry_base_url(host, insecure_registries)
        self.session = session or requests.Session()
        self.session.trust_env = False  # no proxies or ~/.netrc credentials from the environment
        self._authorization: str | None = None
        self._authorized_scope: str | None = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport and authentication -------------------------------------------------------------
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
            raise self.error(f"Registry {self.host} unreachable: {short_reason(exc)}") from exc

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
        realm_secure = realm.startswith("https://") or plain_http(
            re.sub(r"^[a-z]+://", "", realm).split("/", 1)[0], self.insecure_registries
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

    def call(
        self, method: str, path_or_url: str, scope: str, headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:  # fmt: skip
        """``method`` on an API path (``/v2/...``) or an absolute URL the registry gave, answering
        one authentication challenge for ``scope``."""
        url = urljoin(self.base_url + "/", path_or_url)
        sent = dict(headers or {})
        response = None
        for attempt in range(2):
            if self._authorization:
                sent["Authorization"] = self._authorization
            response = self._request(method, url, sent, **kwargs)
            if response.status_code == 401 and attempt == 0 and self._authorize(response, scope):
                continue
            break
        assert response is not None
        return response

    def refused(self, response: requests.Response, what: str) -> Exception:
        """The error for an answer that is not what was asked for."""
        if response.status_code in (401, 403):
            hint = (
                "no credentials are configured"
                if self.credentials is None
                else "check the credentials"
            )
            return self.error(
                f"Registry {self.host} refused {what}: HTTP {response.status_code}"
                f" ({hint} for {self.host})"
            )
        return self.error(f"Registry {self.host} answered HTTP {response.status_code} for {what}")

    # -- reading ---------------------------------------------------------------------------------
    def _scope(self, name: str, actions: str = "pull") -> str:
        return f"repository:{repository_name(self.host, name)}:{actions}"

    def _path(self, name: str, kind: str, reference: str) -> str:
        return f"/v2/{repository_name(self.host, name)}/{kind}/{reference}"

    def manifest_digest(self, name: str, reference: str) -> str | None:
        """The ``Docker-Content-Digest`` the registry answers for ``name:reference``; None when it
        does not have it (404)."""
        response = self.call(
            "HEAD",
            self._path(name, "manifests", reference),
            self._scope(name),
            {"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise self.refused(response, f"to show {name}:{reference}")
        if response.status_code != 200:
            raise self.error(
                f"Registry {self.host} answered HTTP {response.status_code} for {name}:{reference}"
            )
        digest = response.headers.get("Docker-Content-Digest", "").strip()
        if not DIGEST_RE.fullmatch(digest):
            raise self.error(
                f"Registry {self.host} did not answer {name}:{reference} with a content digest"
            )
        return digest

    def get_manifest(self, name: str, reference: str) -> Manifest | None:
        """The manifest ``name:reference`` (a tag or a digest); None when there is none (404).
        A manifest asked for by digest must hash to it."""
        response = self.call(
            "GET",
            self._path(name, "manifests", reference),
            self._scope(name),
            {"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.refused(response, f"{name}:{reference}")
        body = response.content[: MAX_DOCUMENT_BYTES + 1]
        if len(body) > MAX_DOCUMENT_BYTES:
            raise self.error(f"Registry {self.host}: manifest {name}:{reference} is too large")
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and digest != reference:
            raise self.error(f"Registry {self.host} served {name}@{reference} with digest {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            declared = json.loads(body).get("mediaType")
        except (ValueError, AttributeError) as exc:
            raise self.error(f"Registry {self.host}: {name}:{reference} is not JSON") from exc
        return Manifest(digest, str(declared or media_type), body)

    def get_blob(self, name: str, digest: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """A blob (a config or an envelope), checked against its digest."""
        response = self.call("GET", self._path(name, "blobs", digest), self._scope(name))
        if response.status_code in (301, 302, 303, 307, 308):  # storage redirects on big registries
            location = response.headers.get("Location", "")
            response = self._request("GET", urljoin(self.base_url + "/", location), {})
        if response.status_code != 200:
            raise self.refused(response, f"blob {digest} of {name}")
        data = response.content[: limit + 1]
        if len(data) > limit:
            raise self.error(f"Registry {self.host}: blob {digest} of {name} is too large")
        if sha256_digest(data) != digest:
            raise self.error(f"Registry {self.host} served blob {digest} with other content")
        return data

    def tags(self, name: str) -> list[str]:
        """Every tag of ``name`` (an empty list when the repository does not exist)."""
        found: list[str] = []
        path: str | None = f"/v2/{repository_name(self.host, name)}/tags/list?n=1000"
        while path:
            response = self.call("GET", path, self._scope(name))
            if response.status_code == 404:
                return found
            if response.status_code != 200:
                raise self.refused(response, f"the tags of {name}")
            found.extend(str(tag) for tag in (response.json().get("tags") or ()))
            path = _next_link(response)
        return found

    def catalog(self, limit: int = 1000) -> list[str] | None:
        """The repositories the registry lists (at most ``limit``); None when it hides its
        catalog (401/403/404, as hosted registries do)."""
        found: list[str] = []
        path: str | None = f"/v2/_catalog?n={min(limit, 1000)}"
        while path and len(found) < limit:
            response = self.call("GET", path, "registry:catalog:*")
            if response.status_code in (401, 403, 404):
                return None
            if response.status_code != 200:
                raise self.refused(response, "its catalog")
            found.extend(str(name) for name in (response.json().get("repositories") or ()))
            path = _next_link(response)
        return found[:limit]

    # -- writing ---------------------------------------------------------------------------------
    def put_blob(self, name: str, data: bytes) -> str:
        """Upload ``data`` as a blob of ``name`` (monolithically); returns its digest."""
        digest = sha256_digest(data)
        scope = self._scope(name, "pull,push")
        head = self.call("HEAD", self._path(name, "blobs", digest), scope)
        if head.status_code == 200:
            return digest
        started = self.call("POST", f"/v2/{repository_name(self.host, name)}/blobs/uploads/", scope)
        if started.status_code != 202 or not started.headers.get("Location"):
            raise self.refused(started, f"an upload to {name}")
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self.call(
            "PUT",
            f"{location}{separator}digest={digest}",
            scope,
            {"Content-Type": "application/octet-stream"},
            data=data,
        )
        if done.status_code != 201:
            raise self.refused(done, f"blob {digest} of {name}")
        return digest

    def put_manifest(self, name: str, reference: str, manifest: Mapping[str, Any]) -> str:
        """Store ``manifest`` as ``name:reference``; returns its digest."""
        body = json.dumps(manifest, separators=(",", ":")).encode()
        media_type = str(manifest.get("mediaType") or OCI_MANIFEST)
        return self.put_manifest_body(name, reference, media_type, body)

    def put_manifest_body(self, name: str, reference: str, media_type: str, body: bytes) -> str:
        """Store the manifest bytes ``body`` (of ``media_type``) as ``name:reference``; returns
        its digest (the bytes' own: the registry stores them as they are)."""
        response = self.call(
            "PUT",
            self._path(name, "manifests", reference),
            self._scope(name, "pull,push"),
            {"Content-Type": media_type},
            data=body,
        )
        if response.status_code not in (200, 201):
            raise self.refused(response, f"manifest {name}:{reference}")
        return sha256_digest(body)

    def delete_manifest(self, name: str, digest: str) -> bool:
        """Delete the manifest ``name@digest`` (and so every tag on it); False when it was gone."""
        response = self.call(
            "DELETE", self._path(name, "manifests", digest), self._scope(name, "delete")
        )
        if response.status_code == 404:
            return False
        if response.status_code == 405:
            raise self.error(
                f"Registry {self.host} does not allow deletes"
                " (start it with REGISTRY_STORAGE_DELETE_ENABLED=true)"
            )
        if response.status_code not in (200, 202):
            raise self.refused(response, f"deleting {name}@{digest}")
        return True


def _next_link(response: requests.Response) -> str | None:
    """The next page of a paginated list (RFC 5988 ``Link: </v2/...>; rel="next"``)."""
    link = response.headers.get("Link", "")
    match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link)
    return match.group(1) if match else None
