"""The build's labels, stamped on the built image in one step.

Given ``labels=`` the legacy builder appends one ``LABEL`` instruction per label to the Dockerfile
(Engine 20.10), and every one of them is a step: a container created, committed and removed,
about 50 ms each, on every build, since the build id, the revision and the creation time never
hit the cache. Instead the image is built without them, then labelled by a second build of a
two-line Dockerfile, ``FROM <image id>`` and one ``LABEL`` with every pair: one step. The result
is the same image with the same labels (its history has one ``LABEL`` entry instead of four).
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping
from typing import Any

from worker.deadline import Checkpoint, Deadline
from worker.errors import DaemonError
from worker.streams import aux_value, stream_error

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def quote(value: str) -> str:
    """A Dockerfile double-quoted word: backslash, quote and ``$`` escaped; control characters
    (a newline would end the instruction) become spaces."""
    text = _UNPRINTABLE.sub(" ", value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def label_dockerfile(image_id: str, labels: Mapping[str, str]) -> str:
    pairs = " ".join(f"{quote(key)}={quote(value)}" for key, value in sorted(labels.items()))
    return f"FROM {image_id}\nLABEL {pairs}\n"


def label_context(image_id: str, labels: Mapping[str, str]) -> io.BytesIO:
    """The whole build context of the labelling build: a tar with its Dockerfile."""
    data = label_dockerfile(image_id, labels).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def label_image(
    api: Any,
    image_id: str,
    labels: Mapping[str, str],
    tag: str,
    deadline: Deadline,
    checkpoint: Checkpoint,
) -> str:
    """Build ``image_id`` plus ``labels`` (one ``LABEL`` step), tagged ``tag``; returns the new
    image id. Docker's answer is consumed to its end: an error in it raises
    :class:`DaemonError` (the values are quoted, so Docker refusing them is not the user's
    fault)."""
    chunks = api.build(
        fileobj=label_context(image_id, labels),
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        pull=False,
        use_config_proxy=False,  # never ~/.docker/config.json's proxies as build args
        decode=True,
        timeout=deadline.backstop(),
    )
    labelled: str | None = None
    for chunk in chunks:
        checkpoint()
        if not isinstance(chunk, Mapping):
            continue
        message = stream_error(chunk)
        if message is not None:
            raise DaemonError(f"Docker could not label the built image: {message}")
        labelled = aux_value(chunk, "ID") or labelled
    checkpoint()
    if labelled is None:
        raise DaemonError("Labelling the built image ended without an image id")
    return labelled
