"""The Docker SDK client the worker uses: low-level, and blind to ``~/.docker/config.json``.

The SDK reads the user's Docker configuration and sends every credential in it to the daemon with
each build (``X-Registry-Config``), and pushes with it when no ``auth_config`` is given. The worker
passes credentials explicitly instead: :class:`WorkerAPIClient` starts with no stored credentials,
never reloads them, and sends with builds only the credentials it is given (its repository's
registries: :func:`worker.phases.docker.registry_credentials`). The SDK also turns the file's
``proxies`` into build args of every build: the client drops them, and every build passes
``use_config_proxy=False`` too.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Mapping
from typing import Any

import docker
import requests
from docker import auth
from docker.utils import kwargs_from_env
from docker.utils.proxy import ProxyConfig

from worker.errors import DaemonError

DEFAULT_TIMEOUT_SECONDS = 60.0
CANCEL_TIMEOUT_SECONDS = 5.0  # for POST /build/cancel from the watcher's thread
EXTRA_LIMIT_KEYS = ("cpuperiod", "cpuquota")  # build limits the SDK does not know
RegistryCredentials = Mapping[str, Mapping[str, str]]  # host -> {"username", "password"}


class NoStoredCredentials(auth.AuthConfig):  # type: ignore[misc]
    """An auth configuration that holds nothing and never admits to being empty: the SDK reloads
    ``~/.docker/config.json`` from disk whenever its in-memory configuration is empty (pushes and
    pulls without ``auth_config`` go through ``auth.get_config_header``, which does just that)."""

    def __init__(self) -> None:
        super().__init__({"auths": {}})

    @property
    def is_empty(self) -> bool:
        return False

    def resolve_authconfig(self, registry: str | None = None) -> None:
        return None

    def get_all_credentials(self) -> dict[str, Any]:
        return {}


class WorkerAPIClient(docker.APIClient):  # type: ignore[misc]
    """``docker.APIClient`` that only ever uses the credentials it is given."""

    def __init__(
        self, *args: Any, registry_credentials: RegistryCredentials | None = None, **kwargs: Any
    ):
        self._stream_sockets: list[Any] = []
        self._buildkit_ids: list[str] = []
        self._aborted = False
        super().__init__(*args, **kwargs)
        self._auth_configs = NoStoredCredentials()
        self._proxy_configs = ProxyConfig()  # nor the proxies it read from the same file
        self.registry_credentials: dict[str, dict[str, str]] = {
            host: {**creds, "serveraddress": host}
            for host, creds in (registry_credentials or {}).items()
        }

    def reload_config(self, dockercfg_path: str | None = None) -> None:
        """Never pick up the worker's Docker configuration file."""
        self._auth_configs = NoStoredCredentials()

    def _set_auth_headers(self, headers: dict[str, str]) -> None:
        if self.registry_credentials:
            headers["X-Registry-Config"] = auth.encode_header(self.registry_credentials)

    # -- CPU limits the SDK's container_limits does not pass on --------------------------------
    def build(
        self, *args: Any, container_limits: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """``APIClient.build``, also taking ``cpuperiod`` and ``cpuquota`` in ``container_limits``
        (the daemon's hard CPU limit, which the SDK refuses as unknown keys)."""
        limits = dict(container_limits or {})
        self._extra_build_params = {k: limits.pop(k) for k in EXTRA_LIMIT_KEYS if k in limits}
        try:
            return super().build(*args, container_limits=limits, **kwargs)
        finally:
            self._extra_build_params = {}

    def _post(self, url: str, **kwargs: Any) -> Any:
        extra = getattr(self, "_extra_build_params", None)
        if extra and url.endswith("/build"):
            kwargs["params"] = {**(kwargs.get("params") or {}), **extra}
        return super()._post(url, **kwargs)

    # -- aborting streams from another thread ---------------------------------------------------
    def _stream_helper(self, response: Any, decode: bool = False) -> Any:
        """Every streaming answer (build, push) is remembered, so :meth:`abort_streams` can cut it
        from another thread while this one is blocked reading it."""
        sock = response_socket(response)
        if sock is not None and all(sock is not known for known in self._stream_sockets):
            self._stream_sockets.append(sock)
        if sock is not None and self._aborted:
            shut(sock)
        return super()._stream_helper(response, decode=decode)

    def abort_streams(self) -> None:
        """Cut every streaming connection (now and from now on). The blocked reader gets an end
        of stream or an error at once; the daemon sees its client go and aborts the build (its
        ``RUN`` container is killed and removed) or the push."""
        self._aborted = True
        for sock in list(self._stream_sockets):
            shut(sock)
        for build_id in list(self._buildkit_ids):
            self.cancel_buildkit(build_id)

    # -- BuildKit builds ----------------------------------------------------------------------
    def track_buildkit(self, build_id: str) -> None:
        """Remember a BuildKit build (its ``buildid``): :meth:`abort_streams` cancels it."""
        self._buildkit_ids.append(build_id)
        if self._aborted:
            self.cancel_buildkit(build_id)

    def cancel_buildkit(self, build_id: str) -> None:
        """``POST /build/cancel?id=...``: the daemon stops the solve and kills its ``RUN``
        processes. Best effort (a build that has ended is not an error)."""
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException, OSError):
            response = self._post(
                self._url("/build/cancel"), params={"id": build_id}, timeout=CANCEL_TIMEOUT_SECONDS
            )
            response.close()


def response_socket(response: Any) -> Any:
    """The socket under a streaming ``requests`` response (unix socket, TCP or TLS), or None."""
    try:
        raw = response.raw._fp.fp.raw
    except AttributeError:
        return None
    return getattr(raw, "_sock", raw)


def shut(sock: Any) -> None:
    """``shutdown(SHUT_RDWR)``: unlike ``close``, it wakes a ``recv`` blocked in another thread."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        sock.shutdown(socket.SHUT_RDWR)


DockerFactory = Callable[[float, RegistryCredentials], Any]
"""Makes a connected low-level client: ``factory(timeout, registry_credentials)``."""


def docker_factory(environ: Mapping[str, str]) -> DockerFactory:
    """A factory honouring ``DOCKER_HOST`` (and ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``) from
    ``environ``."""

    def make(timeout: float, registry_credentials: RegistryCredentials) -> Any:
        kwargs = kwargs_from_env(environment=dict(environ))
        try:
            return WorkerAPIClient(
                version="auto",
                timeout=timeout,
                registry_credentials=registry_credentials,
                **kwargs,
            )
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = kwargs.get("base_url") or "the local socket"
            raise DaemonError(f"Docker daemon unreachable at {where}: {exc}") from exc

    return make


def ping(api: Any) -> None:
    """Raise :class:`DaemonError` unless the daemon answers."""
    try:
        api.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DaemonError(f"Docker daemon unreachable: {exc}") from exc
