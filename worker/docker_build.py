"""``docker image build`` through the low-level API, one whole log line at a time.

Uses the legacy builder (the Docker SDK has no BuildKit): ``rm``/``forcerm`` always, no ``pull``
(the daemon still pulls a ``FROM`` image it does not have), OCI labels for source, revision and
creation time plus the build id. The build's socket read timeout is what is left of the build's
deadline, so a silent ``RUN`` step cannot outlive it; when it expires the connection is dropped,
which makes the daemon abort the build and remove its container.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import requests
import urllib3.exceptions

from worker.containment import BuildLimits, check_context_size, explain_limits
from worker.deadline import Checkpoint, Deadline
from worker.errors import DaemonError, DockerBuildError, UserBuildError, api_error_text
from worker.labels import label_image
from worker.progress import ProgressSink
from worker.streams import LineAssembler, Step, aux_value, parse_step, status_line, stream_error

# https://github.com/distribution/reference: a tag, and a repository (host[:port]/path, lowercase).
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"^(?:(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*$"
)

LineFn = Callable[[str], None]

LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_CREATED = "org.opencontainers.image.created"
LABEL_BUILD_ID = "io.autobuild.build-id"


def validate_reference(image: str, tags: Iterable[str]) -> None:
    """Refuse an image name or tag Docker would refuse, before any work is done."""
    tags = list(tags)
    if not tags:
        raise UserBuildError(f"The build of {image} has no tag to build and push")
    if not IMAGE_RE.fullmatch(image) or len(image) > 255:
        raise UserBuildError(f"{image!r} is not a valid image name (lowercase registry/repository)")
    for tag in tags:
        if not TAG_RE.fullmatch(tag):
            raise UserBuildError(f"{tag!r} is not a valid Docker tag")


@dataclass(frozen=True)
class BuildRequest:
    context_dir: Path
    dockerfile: str
    image: str  # registry/repository, no tag
    tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    limits: BuildLimits = field(default_factory=BuildLimits)  # network, memory, CPU, context
    cache_from: tuple[str, ...] = ()  # local images whose layers the build may reuse
    nocache: bool = False  # build_caching: false
    platform: str | None = None  # linux/arm64 (``platform=``); None: the daemon's own
    pull: bool = False  # ``pull=1``: FROM images fresh from their registries (worker/basepull.py)
    # Build secrets (id -> value) and registry credentials (host -> (user, password)) for a
    # BuildKit session (worker.build_secrets); kept out of repr, so never in a log or traceback.
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    registry_auth: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def primary_reference(self) -> str:
        return f"{self.image}:{self.tags[0]}"


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    last_step: Step | None = None
    lines: int = 0


def consume_build_stream(
    chunks: Iterable[Any],
    on_line: LineFn,
    checkpoint: Checkpoint = lambda: None,
    progress: ProgressSink | None = None,
) -> BuildResult:
    """Log every whole line of a build stream; the image id from ``aux.ID``, or raise. Each
    ``Step N/M`` record of the stream is reported to ``progress``.

    An ``error`` chunk raises :class:`DockerBuildError` with Docker's message (and the step it
    failed at); a stream that ends with neither an error nor an image id raises
    :class:`DaemonError`.
    """
    assembler = LineAssembler()
    step: Step | None = None
    image_id: str | None = None
    count = 0

    def emit(lines: list[str]) -> None:
        nonlocal step, count
        for line in lines:
            found = parse_step(line)
            if found is not None:
                step = found
                if progress is not None:
                    progress.step(found.number, found.total)
            on_line(line)
            count += 1

    for chunk in chunks:
        checkpoint()
        if not isinstance(chunk, Mapping):
            continue
        message = stream_error(chunk)
        if message is not None:
            emit(assembler.flush())
            where = f"Step {step.number}/{step.total} failed" if step else "The Docker build failed"
            raise DockerBuildError(f"{where}: {message}")
        fragment = chunk.get("stream")
        if isinstance(fragment, str):
            emit(assembler.feed(fragment))
        else:
            line = status_line(chunk)
            if line is not None:
                emit(assembler.flush())
                emit([line])
        image_id = aux_value(chunk, "ID") or image_id
    emit(assembler.flush())
    checkpoint()  # a stream cut short by a cancel or a time limit ends here, with its reason
    if image_id is None:
        raise DaemonError(
            "The Docker build stream ended without an image id or an error (did the daemon stop?)"
        )
    return BuildResult(image_id=image_id, last_step=step, lines=count)


def daemon_answers(api: Any) -> bool:
    """Whether the daemon still answers a ping. A daemon that stops (``systemctl stop docker``)
    closes its API and kills the running ``RUN`` container, and the build stream reports the
    step as failing with exit code 137: not the repository's failure when nothing answers
    after it. The ping goes over a new connection: a stopping daemon closes its listener first but
    still answers on connections it already has (the client keeps idle ones for reuse)."""
    try:
        api.close()  # drops the idle pooled connections; the client opens new ones as needed
        api.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False
    return True


def label_and_tag(
    api: Any,
    request: BuildRequest,
    result: BuildResult,
    deadline: Deadline,
    on_line: LineFn,
    check: Checkpoint,
) -> BuildResult:
    """Stamp the build's labels on the built image (all of them in one step: worker.labels) and
    give it every other tag."""
    if request.labels:
        labelled = label_image(
            api, result.image_id, request.labels, request.primary_reference, deadline, check
        )
        result = BuildResult(labelled, result.last_step, result.lines)
        on_line(f"Labelled {labelled[:19]}: {', '.join(sorted(request.labels))}")
    for tag in request.tags[1:]:
        api.tag(result.image_id, request.image, tag=tag, force=True)
    return result


@contextlib.contextmanager
def daemon_errors(deadline: Deadline) -> Iterator[None]:
    """Docker's errors during a build as the worker's: refused (a client error) is the build's
    failure, anything else the daemon's; a connection lost at the deadline is the time limit."""
    try:
        yield
    except docker.errors.APIError as exc:
        if exc.is_client_error():
            raise DockerBuildError(f"Docker refused the build: {api_error_text(exc)}") from exc
        raise DaemonError(f"The Docker daemon failed the build: {api_error_text(exc)}") from exc
    except (
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,
        docker.errors.DockerException,
        OSError,
    ) as exc:
        if deadline.expired:
            raise deadline.error("building the image") from exc
        if isinstance(exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            raise DaemonError("The Docker daemon stopped answering during the build") from exc
        raise DaemonError(
            f"Lost the connection to the Docker daemon during the build: {exc}"
        ) from exc


def build_image(
    api: Any,
    request: BuildRequest,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
    progress: ProgressSink | None = None,
) -> BuildResult:
    """Build ``request`` and tag the image with every tag; returns the image id. The steps go
    to ``progress`` as they start."""
    check = checkpoint or deadline.checkpoint("building the image")
    with daemon_errors(deadline):
        check_context_size(
            request.context_dir, request.dockerfile, request.limits.max_context_bytes
        )
        chunks = api.build(
            path=str(request.context_dir),
            dockerfile=request.dockerfile,
            tag=request.primary_reference,
            rm=True,
            forcerm=True,
            pull=request.pull,
            use_config_proxy=False,  # never ~/.docker/config.json's proxies as build args
            nocache=request.nocache,
            cache_from=list(request.cache_from) or None,
            decode=True,
            buildargs=dict(request.build_args),
            timeout=deadline.backstop(),
            platform=request.platform,
            **request.limits.build_kwargs(),
        )
        try:
            with explain_limits(request.limits):
                result = consume_build_stream(chunks, on_line, check, progress)
        except DockerBuildError as failed:
            if not daemon_answers(api):  # the daemon went away and took the step with it
                raise DaemonError(
                    "Docker daemon unreachable: it stopped during the build"
                    f" ({failed.message.rstrip('.')})"
                ) from failed
            raise
        return label_and_tag(api, request, result, deadline, on_line, check)
