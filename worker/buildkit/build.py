"""One image built by the daemon's BuildKit: ``POST /build?version=2`` through the Docker SDK's
low-level client, with the same outcome as the legacy builder (:func:`worker.docker_build.
build_image`): a :class:`~worker.docker_build.BuildResult` with the image id, tagged with every
tag, or one of the worker's errors.

The answer is the usual JSON stream, but the log arrives as ``aux`` records with id
``moby.buildkit.trace`` (base64 protobuf, :mod:`worker.buildkit.status`), rendered into plain
lines by :mod:`worker.buildkit.trace`; the image id comes in the record with id
``moby.image.id``. Every record counts as output for the no-output watchdog, since each one goes
through the checkpoint. A cancel or a time limit cuts the stream and asks the daemon to cancel the
build by its ``buildid`` (``POST /build/cancel``): the solve stops and its ``RUN`` processes are
killed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from worker.buildkit.request import BuildKitOptions, build_params, context_archive
from worker.buildkit.status import IMAGE_ID, TRACE_ID, decode_trace
from worker.buildkit.trace import PlainProgress, ProgressFn
from worker.containment import check_context_size
from worker.deadline import Checkpoint, Deadline
from worker.docker_build import BuildRequest, BuildResult, daemon_answers, daemon_errors
from worker.errors import DaemonError, DockerBuildError
from worker.streams import LineAssembler, stream_error

LineFn = Callable[[str], None]


def consume_trace_stream(
    chunks: Iterable[Any],
    progress: PlainProgress,
    on_line: LineFn,
    checkpoint: Checkpoint = lambda: None,
) -> str:
    """Log a BuildKit build stream and return the image id, or raise.

    An ``error`` record raises :class:`DockerBuildError` naming the failing step with BuildKit's
    message and the step's last output lines; a stream that ends with neither an error nor an
    image id raises :class:`DaemonError`."""
    assembler = LineAssembler()
    image_id: str | None = None
    for chunk in chunks:
        checkpoint()
        if not isinstance(chunk, Mapping):
            continue
        message = stream_error(chunk)
        if message is not None:
            progress.close()
            failed = progress.failed
            if failed is not None:
                raise DockerBuildError(failed.sentence())
            raise DockerBuildError(f"The BuildKit build failed: {message}")
        record_id = chunk.get("id")
        if record_id == TRACE_ID:
            status = decode_trace(chunk.get("aux"))
            if status is not None:
                progress.feed(status)
        elif record_id == IMAGE_ID:
            aux = chunk.get("aux")
            if isinstance(aux, Mapping) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
        elif isinstance(chunk.get("stream"), str):
            for line in assembler.feed(chunk["stream"]):
                if line.strip():
                    on_line(line)
    progress.close()
    for line in assembler.flush():
        on_line(line)
    checkpoint()  # a stream cut short by a cancel or a time limit ends here, with its reason
    if image_id is None:
        raise DaemonError(
            "The BuildKit build stream ended without an image id or an error (did the daemon stop?)"
        )
    return image_id


def start_build(api: Any, request: BuildRequest, options: BuildKitOptions, timeout: float) -> Any:
    """Send the context and the query; the decoded stream of the daemon's answer."""
    archive, dockerfile = context_archive(request.context_dir, request.dockerfile)
    with archive:
        params = build_params(request, options)
        params["dockerfile"] = dockerfile
        headers = {"Content-Type": "application/x-tar"}
        if hasattr(api, "_set_auth_headers"):
            api._set_auth_headers(headers)
        track = getattr(api, "track_buildkit", None)
        if track is not None:
            track(options.build_id)  # so an abort also cancels the solve
        response = api._post(
            api._url("/build"),
            params=params,
            data=archive,
            headers=headers,
            stream=True,
            timeout=timeout,
        )
    api._raise_for_status(response)
    return api._stream_helper(response, decode=True)


def build_image_buildkit(
    api: Any,
    request: BuildRequest,
    deadline: Deadline,
    on_line: LineFn,
    checkpoint: Checkpoint | None = None,
    *,
    options: BuildKitOptions | None = None,
    on_progress: ProgressFn | None = None,
) -> BuildResult:
    """Build ``request`` with BuildKit, tagged with every tag; returns the image id.

    ``on_progress(done, total)`` gets the steps finished and known, from the vertexes."""
    options = options or BuildKitOptions()
    check = checkpoint or deadline.checkpoint("building the image")
    progress = PlainProgress(on_line, on_progress)
    with daemon_errors(deadline):
        check_context_size(
            request.context_dir, request.dockerfile, request.limits.max_context_bytes
        )
        chunks = start_build(api, request, options, deadline.backstop())
        try:
            image_id = consume_trace_stream(chunks, progress, on_line, check)
        except DockerBuildError as failed:
            if not daemon_answers(api):  # the daemon went away and took the step with it
                raise DaemonError(
                    "Docker daemon unreachable: it stopped during the build"
                    f" ({failed.message.rstrip('.')})"
                ) from failed
            raise
        return BuildResult(image_id=image_id)
