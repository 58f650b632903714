"""A two-platform build on the real daemon (QEMU for arm64) and registry: one image per
platform, one index under every tag, confirmed by the registry, the arm64 RUN really run as
arm64; and a platform the worker cannot run fails before any work."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import requests

from buildrules.model import RegistryAuth
from core.build import BuildStatus
from core.cosign import cosign_tag
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    registry_digest,
    unique_image,
)
from worker.emulation import emulator_problem, native_arch
from worker.jobs import execute_build

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ARM64_BUSYBOX = ROOT / "var" / "foreign" / "arm64" / "busybox"  # scripts/arm64-busybox.sh
INDEX_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT = ", ".join(
    [
        *INDEX_TYPES,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
SCRIPT = "/bin/busybox uname -m > /arch && echo ran-as-$(/bin/busybox cat /arch)"
DOCKERFILE = (
    "FROM scratch\n"
    "ARG TARGETARCH\n"
    "COPY busybox-${TARGETARCH} /bin/busybox\n"
    "ENV BUST=%s\n"
    f'RUN ["/bin/busybox", "sh", "-c", "{SCRIPT}"]\n'
)


def needs_arm64() -> None:
    missing = []
    if not ARM64_BUSYBOX.is_file():
        missing.append(f"{ARM64_BUSYBOX} (scripts/arm64-busybox.sh)")
    if emulator_problem("linux/arm64", native_arch()) is not None:
        missing.append("QEMU's arm64 binfmt entry (scripts/binfmt.sh)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"multi-platform test needs {', '.join(missing)}")
        pytest.skip(f"multi-platform test needs {', '.join(missing)}")


def sample_files() -> dict[str, str | bytes]:
    return {
        "Dockerfile": DOCKERFILE % uuid.uuid4().hex,
        "busybox-amd64": Path(shutil.which("busybox") or "/bin/busybox").read_bytes(),
        "busybox-arm64": ARM64_BUSYBOX.read_bytes(),
    }


def make_executable(repo) -> None:
    repo.git("update-index", "--chmod=+x", "busybox-amd64", "busybox-arm64")
    repo.git("commit", "-q", "-m", "executable")


def registry_get(image: str, reference: str, kind: str = "manifests") -> requests.Response:
    host, _, path = image.partition("/")
    response = requests.get(
        f"http://{host}/v2/{path}/{kind}/{reference}", headers={"Accept": ACCEPT}, timeout=10
    )
    response.raise_for_status()
    return response


def layer_file(image: str, digest: str, name: str, tmp_path: Path) -> bytes:
    """``name`` from the image's layers (last one that has it)."""
    import io
    import tarfile

    manifest = registry_get(image, digest).json()
    found = b""
    for layer in manifest["layers"]:
        blob = registry_get(image, layer["digest"], "blobs").content
        with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
            for member in archive.getmembers():
                if member.name.lstrip("./") == name and member.isfile():
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    found = extracted.read()
    return found


def test_a_two_platform_build_pushes_one_index_under_every_tag(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url
):
    needs_arm64()
    image = unique_image(registry_url, "multiarch")
    repo = make_git_repo(sample_files())
    make_executable(repo)
    repository = make_repository(repo.url, image, platforms=("linux/amd64", "linux/arm64"))
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head(), tags=("latest", "1.0"))

    status = execute_build(context, record.id)

    final = context.store.require(record.id)
    assert status == "success", final.error
    assert final.status is BuildStatus.SUCCESS
    assert final.platforms == ("linux/amd64", "linux/arm64")
    digests = dict(final.platform_digests)
    assert set(digests) == {"linux/amd64", "linux/arm64"}
    for tag in ("latest", "1.0"):
        assert registry_digest(image, tag) == final.digest
    response = registry_get(image, "latest")
    assert response.headers["Content-Type"].split(";")[0] in INDEX_TYPES
    listed = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in response.json()["manifests"]
    }
    assert listed == digests
    assert layer_file(image, digests["linux/arm64"], "arch", tmp_path) == b"aarch64\n"
    assert layer_file(image, digests["linux/amd64"], "arch", tmp_path) == b"x86_64\n"
    log = log_text(clean_redis, record.id).splitlines()
    assert any(line.startswith("[linux/arm64] #") and "ran-as-aarch64" in line for line in log)
    assert any(line.startswith("[linux/amd64] #") and "ran-as-x86_64" in line for line in log)
    assert final.to_json()["platform_digests"] == digests
    # Provenance for the index and for each platform's image, naming the builder that built them.
    assert final.digest is not None
    for subject in (final.digest, *digests.values()):
        assert registry_digest(image, cosign_tag(subject, "att")) is not None, subject
    assert any(line.startswith("Provenance of ") for line in log)


def test_the_index_goes_to_a_registry_that_needs_credentials(
    tmp_path, redis_url, clean_redis, make_git_repo, auth_registry
):
    needs_arm64()
    image = unique_image(auth_registry.host, "multiarch-auth")
    repo = make_git_repo(sample_files())
    make_executable(repo)
    repository = make_repository(repo.url, image, platforms=("linux/amd64", "linux/arm64"))
    registries = [RegistryAuth(auth_registry.host, "REG_USER", "REG_PASSWORD")]
    environ = {"REG_USER": auth_registry.username, "REG_PASSWORD": auth_registry.password}
    context = make_context(tmp_path, redis_url, clean_redis, [repository], registries, environ)
    record = create_record(context.store, repository, repo.head())

    status = execute_build(context, record.id)

    final = context.store.require(record.id)
    assert status == "success", final.error
    credentials = (auth_registry.username, auth_registry.password)
    assert registry_digest(image, "latest", *credentials) == final.digest
    assert auth_registry.password not in log_text(clean_redis, record.id)


def test_a_platform_without_an_emulator_fails_before_any_work(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url
):
    image = unique_image(registry_url, "noemu")
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, image, platforms=("linux/amd64", "linux/sparc64"))
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    status = execute_build(context, record.id)

    final = context.store.require(record.id)
    assert status == "failed"
    assert final.error.startswith("Platform linux/sparc64 cannot be built")
    assert "no emulator" in final.error
    assert "Fetching commit" not in log_text(clean_redis, record.id)
