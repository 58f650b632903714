"""The query and the context tar of a BuildKit build."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from worker.buildkit.request import BuildKitOptions, build_params, context_archive
from worker.containment import BuildLimits
from worker.docker_build import BuildRequest


def request(tmp_path: Path, **changes: Any) -> BuildRequest:
    fields: dict[str, Any] = {
        "context_dir": tmp_path,
        "dockerfile": "Dockerfile",
        "image": "127.0.0.1:5000/a/b",
        "tags": ("latest", "1.0"),
    }
    fields.update(changes)
    return BuildRequest(**fields)


def test_the_query_asks_for_buildkit_with_every_tag_label_and_arg(tmp_path):
    params = build_params(
        request(
            tmp_path,
            labels={"org.opencontainers.image.revision": "abc"},
            build_args={"GREETING": "hi"},
            cache_from=("127.0.0.1:5000/a/b:latest",),
            limits=BuildLimits("none", {"memory": 64 * 1024**2}),
            platform="linux/arm64",
        ),
        BuildKitOptions(build_id="b1", session_id="s1"),
    )
    assert params["version"] == "2"
    assert params["t"] == ["127.0.0.1:5000/a/b:latest", "127.0.0.1:5000/a/b:1.0"]
    assert json.loads(params["buildargs"]) == {"GREETING": "hi", "BUILDKIT_INLINE_CACHE": "1"}
    assert json.loads(params["labels"]) == {"org.opencontainers.image.revision": "abc"}
    assert json.loads(params["cachefrom"]) == ["127.0.0.1:5000/a/b:latest"]
    assert params["networkmode"] == "none"
    assert (params["platform"], params["session"], params["buildid"]) == ("linux/arm64", "s1", "b1")
    assert "memory" not in params and "nocache" not in params


def test_build_caching_false_sends_nocache_and_no_inline_cache(tmp_path):
    params = build_params(request(tmp_path, nocache=True), BuildKitOptions())
    assert params["nocache"] == "1"
    assert json.loads(params["buildargs"]) == {}
    assert "session" not in params and "platform" not in params and "networkmode" not in params


def test_the_context_tar_has_no_pax_header_and_honours_dockerignore(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("secret.txt\n")
    (tmp_path / "secret.txt").write_text("no\n")
    deep = tmp_path / ("d" * 120) / "ünïcode-file.txt"
    deep.parent.mkdir()
    deep.write_text("yes\n")
    archive, name = context_archive(tmp_path, "Dockerfile")
    with archive:
        head = archive.read(512)
        archive.seek(0)
        assert head[156:157] not in (b"x", b"g")  # typeflag of a PAX header
        with tarfile.open(fileobj=archive) as tar:
            names = tar.getnames()
    assert name == "Dockerfile"
    assert "Dockerfile" in names and "secret.txt" not in names
    assert f"{'d' * 120}/ünïcode-file.txt" in names


def test_a_dockerfile_outside_the_context_joins_it_under_a_new_name(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "app.txt").write_text("x\n")
    (tmp_path / "Dockerfile.build").write_text("FROM scratch\nCOPY app.txt /\n")
    archive, name = context_archive(context, str(tmp_path / "Dockerfile.build"))
    with archive, tarfile.open(fileobj=archive) as tar:
        assert name.startswith(".dockerfile.")
        extracted = tar.extractfile(name)
        assert extracted is not None and extracted.read() == b"FROM scratch\nCOPY app.txt /\n"
        assert "app.txt" in tar.getnames()
