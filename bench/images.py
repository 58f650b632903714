"""Images: the bench's base image, removing every local image the bench made (and nothing else),
deleting its tags from the registry, and the plain ``git clone`` + ``docker build`` + ``docker
push`` pipeline it is compared with.

Everything the bench builds lives under ``127.0.0.1:5000/autobuild-bench/`` and carries the label
``io.autobuild.bench`` (its Dockerfiles set it right after ``FROM``), so that dangling images left
by a re-tag and the intermediate images of the legacy builder are found too. An image that also
carries a tag outside that namespace (another session's identical base image) is only untagged.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from bench.procs import run
from bench.sample import GIT_ENV

BUSYBOX = Path("/bin/busybox")
BENCH_LABEL = "io.autobuild.bench"
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
BASE_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
"""


def docker_api() -> Any:
    return docker.APIClient(version="auto", timeout=600)


def _stream_errors(chunks: list[dict[str, Any]]) -> list[str]:
    return [str(c.get("error") or c.get("errorDetail")) for c in chunks if "error" in c]


def build_base_image(api: Any, reference: str) -> None:
    """busybox FROM scratch, pushed to the registry: the bench's Dockerfiles start FROM it."""
    if not BUSYBOX.exists():
        raise RuntimeError(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in (
            ("Dockerfile", BASE_DOCKERFILE.encode(), 0o644),
            ("busybox", BUSYBOX.read_bytes(), 0o755),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    repository, _, tag = reference.rpartition(":")
    chunks = list(
        api.build(
            fileobj=buffer, custom_context=True, tag=reference, rm=True, forcerm=True, decode=True
        )
    )
    errors = _stream_errors(chunks)
    if errors:
        raise RuntimeError(f"building the bench base image failed: {errors[0]}")
    chunks = list(api.push(repository, tag=tag, stream=True, decode=True))
    errors = _stream_errors(chunks)
    if errors:
        raise RuntimeError(f"pushing the bench base image failed: {errors[0]}")


@dataclass(frozen=True)
class Namespace:
    """``127.0.0.1:5000/autobuild-bench``: the only place the bench leaves images."""

    registry: str
    name: str = "autobuild-bench"

    @property
    def prefix(self) -> str:
        return f"{self.registry}/{self.name}/"

    def image(self, repository: str) -> str:
        return f"{self.prefix}{repository}"

    def owns(self, reference: str) -> bool:
        return reference.startswith(self.prefix)


def remove_local_images(api: Any, namespace: Namespace, keep: frozenset[str] = frozenset()) -> int:
    """Remove the local images the bench made (tags in the namespace, or the bench label); tags
    in ``keep`` stay. Returns how many images or tags were removed."""
    removed = 0
    for _round in range(3):  # a removal can leave a newly dangling, labelled parent
        images = api.images(all=True)
        images.sort(key=lambda image: image.get("Created", 0), reverse=True)  # children first
        progress = 0
        for image in images:
            tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
            digests = [d for d in image.get("RepoDigests") or [] if d != "<none>@<none>"]
            labelled = BENCH_LABEL in (image.get("Labels") or {})
            ours = [t for t in tags if namespace.owns(t) and t not in keep]
            foreign = [t for t in tags if not namespace.owns(t)]
            kept = [t for t in tags if t in keep]
            try:
                if tags and not foreign and not kept and ours:
                    api.remove_image(image["Id"], force=True)
                elif ours:
                    for tag in ours:
                        api.remove_image(tag)
                elif not tags and (
                    labelled or (digests and all(namespace.owns(d) for d in digests))
                ):
                    api.remove_image(image["Id"], force=True)
                else:
                    continue
            except docker.errors.NotFound:
                continue  # pruned with a child removed just before
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
                # other images (not ours) are built on it: only take our tags off
                for tag in ours:
                    with contextlib.suppress(docker.errors.APIError):
                        api.remove_image(tag)
                if not ours:
                    continue
            progress += 1
        removed += progress
        if not progress:
            break
    return removed


def local_image_ids(api: Any, namespace: Namespace) -> set[str]:
    """Ids of local images that belong to the bench (for checks)."""
    found = set()
    for image in api.images(all=True):
        tags = image.get("RepoTags") or []
        if any(namespace.owns(t) for t in tags) or BENCH_LABEL in (image.get("Labels") or {}):
            found.add(image["Id"])
    return found


class RegistryHttp:
    """The registry's HTTP API on a kept-alive connection (plain HTTP on loopback)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._conn: http.client.HTTPConnection | None = None

    def _request(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str]]:
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, timeout=10)
            try:
                self._conn.request(method, path, headers=headers)
                response = self._conn.getresponse()
                response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def digest(self, path: str, tag: str, *, polling: bool = False) -> str | None:
        """The tag's manifest digest, None when it is not there. With ``polling``, a 5xx also
        reads as "not yet": the filesystem registry answers 500 ("invalid checksum digest
        format") when a HEAD reads a tag link while a push is rewriting it."""
        status, headers = self._request(
            "HEAD", f"/v2/{path}/manifests/{tag}", {"Accept": MANIFEST_ACCEPT}
        )
        if status == 404 or (polling and status >= 500):
            return None
        if status != 200:
            raise RuntimeError(f"registry answered {status} for {path}:{tag}")
        return headers.get("docker-content-digest")

    def delete_tag(self, path: str, tag: str) -> bool:
        """Delete the manifest ``path:tag`` points at (the registry allows deletes)."""
        digest = self.digest(path, tag)
        if digest is None:
            return False
        status, _ = self._request("DELETE", f"/v2/{path}/manifests/{digest}", {})
        if status not in (202, 404):
            raise RuntimeError(f"registry refused to delete {path}@{digest}: HTTP {status}")
        return True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- the plain pipeline --------------------------------------------------------------------------

# What a person scripts today: BuildKit, through the docker CLI of the Docker Engine on this
# machine. Debian's 20.10 CLI (/usr/bin/docker) still has BuildKit built in; a newer CLI earlier
# on PATH (/usr/local/bin/docker 28.x here) refuses DOCKER_BUILDKIT=1 without the buildx plugin.
DOCKER_CLI = "/usr/bin/docker"
PLAIN_ENV = {
    **GIT_ENV,
    "DOCKER_BUILDKIT": "1",
    "DOCKER_CLI_HINTS": "false",
}


@dataclass(frozen=True)
class PlainTimes:
    clone: float
    build: float
    push: float

    @property
    def total(self) -> float:
        return self.clone + self.build + self.push

    @property
    def build_push(self) -> float:
        return self.build + self.push


def plain_clone(url: str, branch: str, directory: Path, log: Any) -> float:
    if directory.exists():
        shutil.rmtree(directory)
    start = time.perf_counter()
    run(
        ["git", "clone", "--quiet", "--depth", "1", "--branch", branch, url, str(directory)],
        env=GIT_ENV,
        log=log,
    )
    return time.perf_counter() - start


def plain_env(buildkit: bool = True) -> dict[str, str]:
    env = {**PLAIN_ENV, "HOME": os.environ.get("HOME", "/root")}
    if not buildkit:
        env["DOCKER_BUILDKIT"] = "0"  # the legacy builder (the bench's second table)
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def network_args() -> list[str]:
    """``--network none`` on a daemon without a bridge network (``--bridge=none``, as ``make
    services`` starts it): BuildKit's ``RUN`` fails there with "network bridge not found"
    otherwise. Autobuild's worker does the same."""
    with contextlib.suppress(docker.errors.DockerException, OSError):
        if not docker_api().networks(names=["bridge"]):
            return ["--network", "none"]
    return []


def plain_build_push(
    directory: Path, reference: str, log: Any, buildkit: bool = True
) -> tuple[float, float]:
    """``DOCKER_BUILDKIT=1 docker build -t REF DIR`` then ``docker push REF`` with the docker
    CLI (:data:`DOCKER_CLI`)."""
    env = plain_env(buildkit)
    cli = DOCKER_CLI if os.path.exists(DOCKER_CLI) else "docker"
    network = network_args() if buildkit else []
    start = time.perf_counter()
    run([cli, "build", *network, "-t", reference, str(directory)], env=env, log=log)
    built = time.perf_counter()
    run([cli, "push", reference], env=env, log=log)
    return built - start, time.perf_counter() - built


def plain_pipeline(
    url: str, branch: str, directory: Path, reference: str, log: Any, buildkit: bool = True
) -> PlainTimes:
    clone = plain_clone(url, branch, directory, log)
    build, push = plain_build_push(directory, reference, log, buildkit)
    with contextlib.suppress(OSError):
        shutil.rmtree(directory)
    return PlainTimes(clone, build, push)


def plain_multiarch(
    url: str, branch: str, directory: Path, reference: str, platforms: tuple[str, ...], log: Any
) -> float:
    """By hand: clone, then per platform ``docker build --platform`` + ``docker push`` under
    its own tag, then ``docker manifest create`` + ``push`` of the index under ``reference``."""
    env = plain_env()
    cli = DOCKER_CLI if os.path.exists(DOCKER_CLI) else "docker"
    start = time.perf_counter()
    plain_clone(url, branch, directory, log)
    per_platform = []
    for platform in platforms:
        tagged = f"{reference}-{platform.replace('/', '-')}"
        build = [cli, "build", *network_args(), "--platform", platform, "-t", tagged]
        run([*build, str(directory)], env=env, log=log)
        run([cli, "push", tagged], env=env, log=log)
        per_platform.append(tagged)
    run(
        [cli, "manifest", "create", "--insecure", "--amend", reference, *per_platform],
        env=env,
        log=log,
    )
    run([cli, "manifest", "push", "--purge", "--insecure", reference], env=env, log=log)
    seconds = time.perf_counter() - start
    with contextlib.suppress(OSError):
        shutil.rmtree(directory)
    return seconds
