"""What one BuildKit build sends: the context as a tar, and the query of ``POST /build``.

The context tar is written in GNU format: the Docker SDK's archive (Python's default PAX format)
starts with a PAX extended header, and the daemon's BuildKit then takes the whole body for a
Dockerfile (it sniffs for a plain tar header). ``.dockerignore`` and a Dockerfile outside the
context are handled as the SDK handles them for the legacy builder.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from docker.api.build import process_dockerfile
from docker.utils.build import exclude_paths

from worker.containment import dockerignore_patterns
from worker.docker_build import BuildRequest

INLINE_CACHE_ARG = "BUILDKIT_INLINE_CACHE"


@dataclass(frozen=True)
class BuildKitOptions:
    """What a BuildKit build adds to the legacy :class:`~worker.docker_build.BuildRequest`."""

    # An attached BuildKit session (secrets, registry auth: the session module's ``open_session``
    # gives its id); None: no session, ``FROM`` images are pulled anonymously.
    session_id: str | None = None
    # BuildKit's own name for the build, for ``POST /build/cancel``.
    build_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Write inline cache metadata into the image, so a cold worker can use it as ``cache_from``.
    inline_cache: bool = True


def build_params(request: BuildRequest, options: BuildKitOptions) -> dict[str, Any]:
    """The query string of ``POST /build`` for ``request`` on BuildKit (``version=2``).

    Memory and CPU limits are not sent: the daemon's BuildKit ignores them (docs/buildkit.md)."""
    build_args = dict(request.build_args)
    if options.inline_cache and not request.nocache:
        build_args.setdefault(INLINE_CACHE_ARG, "1")
    params: dict[str, Any] = {
        "version": "2",
        "t": [f"{request.image}:{tag}" for tag in request.tags],
        "dockerfile": request.dockerfile,
        "buildargs": json.dumps(build_args),
        "rm": "1",
        "forcerm": "1",
        "buildid": options.build_id,
    }
    if request.labels:
        params["labels"] = json.dumps(dict(request.labels))
    if request.nocache:
        params["nocache"] = "1"
    if request.cache_from:
        params["cachefrom"] = json.dumps(list(request.cache_from))
    if request.limits.network_mode is not None:
        params["networkmode"] = request.limits.network_mode
    if request.platform:
        params["platform"] = request.platform
    if request.pull:
        params["pull"] = "1"
    if options.session_id:
        params["session"] = options.session_id
    return params


def context_archive(directory: Path, dockerfile: str) -> tuple[IO[bytes], str]:
    """The build context as a GNU tar in a temporary file (read from its start), and the
    Dockerfile's name inside it."""
    root = os.path.abspath(directory)
    name, outside = process_dockerfile(dockerfile, root)
    patterns = dockerignore_patterns(Path(root))
    extra: list[tuple[str, str]] = []
    if outside is not None:  # the SDK's way: the Dockerfile joins the context under a new name
        ignore = "\n".join([*(patterns or [".dockerignore"]), name])
        extra = [(".dockerignore", ignore), (name, outside)]
    files = sorted(exclude_paths(root, patterns, dockerfile=name))
    fileobj = tempfile.TemporaryFile()  # noqa: SIM115 (the caller reads and closes it)
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.GNU_FORMAT) as archive:
        replaced = {entry for entry, _ in extra}
        for path in files:
            if path not in replaced:
                _add(archive, root, path)
        for entry, text in extra:
            data = text.encode()
            info = tarfile.TarInfo(entry)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    fileobj.seek(0)
    return fileobj, name


def _add(archive: tarfile.TarFile, root: str, path: str) -> None:
    full_path = os.path.join(root, path)
    info = archive.gettarinfo(full_path, arcname=path)
    if info is None:  # a socket: nothing to send
        return
    info.mtime = int(info.mtime) if 0 <= info.mtime <= 8**11 - 1 else 0
    if info.isfile():
        try:
            with open(full_path, "rb") as data:
                archive.addfile(info, data)
        except OSError as exc:
            raise OSError(f"Can not read file in context: {path}") from exc
    else:
        archive.addfile(info, None)
