"""Provenance and signatures of real builds in the real registry, checked by `autobuild verify`."""

from __future__ import annotations

import base64
import json

import pytest

from cli.main import main as cli_main
from core.cosign import DSSE_TYPE, SIMPLE_SIGNING_TYPE, cosign_tag
from core.provenance import SLSA_PROVENANCE_V1, summary
from core.trust_store import TrustStore
from core.verify import read_provenance
from tests.integration.trust_helpers import (
    dockerfile,
    keygen,
    push_by_hand,
    registry_api,
    run_build,
)
from tests.integration.worker_helpers import (
    log_text,
    make_context,
    make_repository,
    registry_digest,
    unique_image,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "trust")


@pytest.fixture
def signed_build(tmp_path, redis_url, clean_redis, base_image, make_git_repo, image):
    """A successful build of a repository FROM the base image, with a signing key configured."""
    private, public = keygen(tmp_path)
    repo = make_git_repo({"Dockerfile": dockerfile(base_image)})
    repository = make_repository(repo.url, image)
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={
            "AUTOBUILD_SIGNING_KEY": str(private),
            "AUTOBUILD_PUBLIC_URL": "https://autobuild.example.test",
        },
    )
    record = run_build(context, repository, repo.head())
    return record, public, repo


def verify(capsys, reference: str, public) -> tuple[int, str]:
    code = cli_main(["verify", reference, "--key", str(public)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_signed_build_has_its_signature_and_provenance_in_the_registry(
    signed_build, image, base_image, clean_redis
):
    record, _public, repo = signed_build
    api, name = registry_api(image)
    with api:
        sig = api.get_manifest(name, cosign_tag(record.digest, "sig"))
        att = api.get_manifest(name, cosign_tag(record.digest, "att"))
        assert sig is not None and att is not None
        assert [layer["mediaType"] for layer in sig.json()["layers"]] == [SIMPLE_SIGNING_TYPE]
        layer = att.json()["layers"][0]
        assert layer["mediaType"] == DSSE_TYPE
        assert layer["annotations"]["predicateType"] == SLSA_PROVENANCE_V1
        statement = read_provenance(api, name, record.digest, None)
    facts = summary(statement)
    assert facts.commit == repo.head()
    assert facts.ref == "refs/heads/master"
    assert facts.dockerfile == "Dockerfile"
    assert facts.build_id == record.id
    assert facts.builder_id == "https://autobuild.example.test"
    base_name, _, base_tag = base_image.rpartition(":")
    assert [(b.reference, b.digest) for b in facts.base_images] == [
        (base_image, registry_digest(base_name, base_tag))
    ]
    stored = TrustStore(clean_redis).attestation(record.id)
    assert stored is not None and stored.signed and stored.statement == statement
    assert "Signed " + record.digest in log_text(clean_redis, record.id)


def test_verify_accepts_the_build_and_prints_where_it_came_from(signed_build, image, capsys):
    record, public, repo = signed_build
    code, output = verify(capsys, f"{image}@{record.digest}", public)
    assert code == 0, output
    assert repo.head() in output
    assert "refs/heads/master" in output
    assert "Dockerfile: Dockerfile" in output


def test_verify_rejects_a_digest_signed_with_another_key(signed_build, image, capsys, tmp_path):
    record, _public, _repo = signed_build
    _other_private, other_public = keygen(tmp_path, "other")
    code, output = verify(capsys, f"{image}@{record.digest}", other_public)
    assert code == 1
    assert "No signature" in output and "verifies with this key" in output


def test_verify_rejects_an_image_retagged_by_hand(
    signed_build, image, capsys, docker_api, base_image
):
    record, public, _repo = signed_build
    handmade = push_by_hand(docker_api, base_image, image, "handmade")
    code, output = verify(capsys, f"{image}:handmade", public)
    assert code == 1
    assert "has no signature" in output
    # Copying the build's signature onto the other digest does not make it signed.
    api, name = registry_api(image)
    with api:
        signature = api.get_manifest(name, cosign_tag(record.digest, "sig"))
        assert signature is not None
        api.put_manifest(name, cosign_tag(handmade, "sig"), signature.json())
    code, output = verify(capsys, f"{image}@{handmade}", public)
    assert code == 1
    assert "signs another image" in output


def test_verify_rejects_a_tampered_provenance_envelope(signed_build, image, capsys):
    record, public, _repo = signed_build
    api, name = registry_api(image)
    with api:
        tag = cosign_tag(record.digest, "att")
        manifest = api.get_manifest(name, tag)
        assert manifest is not None
        document = manifest.json()
        layer = document["layers"][0]
        envelope = json.loads(api.get_blob(name, layer["digest"]))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        parameters = statement["predicate"]["buildDefinition"]["externalParameters"]
        parameters["commit"] = "0" * 40
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        data = json.dumps(envelope).encode()
        layer["digest"] = api.put_blob(name, data)
        layer["size"] = len(data)
        api.put_manifest(name, tag, document)
    code, output = verify(capsys, f"{image}@{record.digest}", public)
    assert code == 1
    assert "No provenance" in output and "signed by this key" in output


def test_without_a_key_the_provenance_is_pushed_unsigned(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image, capsys
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image)})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = run_build(context, repository, repo.head())
    api, name = registry_api(image)
    with api:
        assert api.get_manifest(name, cosign_tag(record.digest, "sig")) is None
        statement = read_provenance(api, name, record.digest, None)
    assert summary(statement).commit == repo.head()
    stored = TrustStore(clean_redis).attestation(record.id)
    assert stored is not None and not stored.signed
    assert "Provenance is unsigned" in log_text(clean_redis, record.id)
    _private, public = keygen(tmp_path)
    code, output = verify(capsys, f"{image}@{record.digest}", public)
    assert code == 1 and "has no signature" in output
