"""Retention on a real registry with deletes enabled: exactly the expected manifests go."""

from __future__ import annotations

import textwrap

import pytest

from cli.main import main as cli_main
from core.cosign import cosign_tag
from core.registry_api import RegistryAPIError
from core.trust_store import TrustStore
from tests.integration.trust_helpers import (
    dockerfile,
    keygen,
    own_registry,
    push_by_hand,
    registry_api,
    run_build,
)
from tests.integration.worker_helpers import make_context, make_repository, registry_digest

pytestmark = pytest.mark.integration


@pytest.fixture
def delete_registry(tmp_path):
    with own_registry(tmp_path / "registry", delete=True) as host:
        yield host


def write_config(tmp_path, image: str) -> str:
    path = tmp_path / "autobuild.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            repositories:
              - provider: github
                name: octo/kept
                clone_url: https://git.example.test/octo/kept.git
                image: {image}
                keep: {{last: 1, tags: ['/^v.*/']}}
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
            """
        )
    )
    return str(path)


def test_a_keep_rule_deletes_exactly_what_it_lets_go_and_nothing_pushed_by_hand(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, delete_registry,
    monkeypatch, capsys,
):  # fmt: skip
    image = f"{delete_registry}/octo/kept"
    private, _public = keygen(tmp_path)
    repo = make_git_repo({"Dockerfile": dockerfile(base_image)})
    repository = make_repository(repo.url, image)
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository],
        environ={"AUTOBUILD_SIGNING_KEY": str(private)},
    )  # fmt: skip
    builds = {}
    for name, tag in (("v1", "v1"), ("old", "old"), ("first", "latest"), ("second", "latest")):
        commit = repo.commit({"Dockerfile": dockerfile(base_image)}, message=name)
        builds[name] = run_build(context, repository, commit, tags=(tag,))
    manual = push_by_hand(docker_api, base_image, image, "manual")
    doomed = {builds["old"].digest, builds["first"].digest}  # "first" lost latest to "second"

    monkeypatch.setenv("AUTOBUILD_CONFIG", write_config(tmp_path, image))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert cli_main(["prune", "--dry-run"]) == 0
    output = capsys.readouterr().out
    assert "keeping latest, v1" in output
    assert "manual: pushed from elsewhere, never deleted" in output
    assert {
        line.split()[2] for line in output.splitlines() if line.startswith("  would delete ")
    } == doomed
    assert registry_digest(image, "old") == builds["old"].digest  # a dry run deletes nothing

    assert cli_main(["prune"]) == 0
    output = capsys.readouterr().out
    assert "deleted 2 manifest(s)" in output
    api, path = registry_api(image)
    with api:
        for name in ("old", "first"):
            digest = builds[name].digest
            assert api.get_manifest(path, digest) is None
            assert api.manifest_digest(path, cosign_tag(digest, "sig")) is None
            assert api.manifest_digest(path, cosign_tag(digest, "att")) is None
        for name in ("v1", "second"):
            digest = builds[name].digest
            assert api.get_manifest(path, digest) is not None
            assert api.manifest_digest(path, cosign_tag(digest, "sig")) is not None
        assert api.manifest_digest(path, "manual") == manual
        assert sorted(t for t in api.tags(path) if not t.startswith("sha256-")) == [
            "latest", "manual", "v1",
        ]  # fmt: skip
    assert set(TrustStore(clean_redis).pushed(image)) == {
        builds["v1"].digest, builds["second"].digest,
    }  # fmt: skip
    deletions = TrustStore(clean_redis).deletions()
    assert len(deletions) == 2 and all("deleted " + image in line for line in deletions)
    assert cli_main(["prune"]) == 0
    assert "deleted 0 manifest(s)" in capsys.readouterr().out


def test_a_registry_without_deletes_is_named_as_the_reason(tmp_path, docker_api, base_image):
    with own_registry(tmp_path / "no-delete", delete=False) as host:
        image = f"{host}/octo/kept"
        digest = push_by_hand(docker_api, base_image, image, "manual")
        api, name = registry_api(image)
        with api, pytest.raises(RegistryAPIError, match="REGISTRY_STORAGE_DELETE_ENABLED=true"):
            api.delete_manifest(name, digest)
