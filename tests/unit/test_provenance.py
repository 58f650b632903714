"""SLSA v1 provenance from core/provenance.py: the statement, and reading it back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.provenance import (
    BUILD_TYPE,
    SLSA_PROVENANCE_V1,
    STATEMENT_TYPE,
    BaseImage,
    BuildFacts,
    ProvenanceError,
    image_purl,
    names_digest,
    statement,
    summary,
)

DIGEST = "sha256:" + "12" * 32
BASE = "sha256:" + "34" * 32
COMMIT = "a" * 40


def facts(**changes):
    values: dict[str, Any] = {
        "build_id": "b1",
        "image": "127.0.0.1:5000/octo/app",
        "digests": (DIGEST,),
        "tags": ("latest",),
        "repository": "github/octo/app",
        "clone_url": "https://github.com/octo/app.git",
        "ref": "refs/heads/master",
        "commit": COMMIT,
        "rule": {"source_type": "branch", "source": "master"},
        "dockerfile": "docker/Dockerfile",
        "context": "/",
        "build_args": {"FLAVOR": "slim"},
        "builder": "legacy",
        "base_images": (BaseImage("127.0.0.1:5000/lib/base:1", BASE), BaseImage("x:y", None)),
        "builder_id": "https://autobuild.example.test",
        "started_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "finished_at": datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC),
    }
    values.update(changes)
    return BuildFacts(**values)


def test_the_statement_is_in_toto_v1_about_the_pushed_digest():
    document = statement(facts())
    assert document["_type"] == STATEMENT_TYPE
    assert document["predicateType"] == SLSA_PROVENANCE_V1
    assert document["subject"] == [
        {"name": "127.0.0.1:5000/octo/app", "digest": {"sha256": "12" * 32}}
    ]
    assert set(document) == {"_type", "subject", "predicateType", "predicate"}


def test_the_predicate_names_source_build_and_dependencies():
    predicate = statement(facts())["predicate"]
    definition = predicate["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"]["commit"] == COMMIT
    assert definition["externalParameters"]["buildArgs"] == {"FLAVOR": "slim"}
    assert definition["internalParameters"] == {"builder": "legacy"}
    assert definition["resolvedDependencies"] == [
        {"uri": "git+https://github.com/octo/app.git@refs/heads/master",
         "digest": {"gitCommit": COMMIT}},
        {"uri": "pkg:docker/lib/base@1?repository_url=127.0.0.1:5000",
         "name": "127.0.0.1:5000/lib/base:1", "digest": {"sha256": "34" * 32}},
        {"uri": "pkg:docker/x@y", "name": "x:y"},
    ]  # fmt: skip
    assert predicate["runDetails"] == {
        "builder": {"id": "https://autobuild.example.test"},
        "metadata": {
            "invocationId": "b1",
            "startedOn": "2026-01-02T03:04:05Z",
            "finishedOn": "2026-01-02T03:05:00Z",
        },
    }


def test_a_multi_platform_build_names_the_index_and_each_platform():
    other = "sha256:" + "56" * 32
    document = statement(facts(digests=(DIGEST, other)))
    assert names_digest(document, DIGEST) and names_digest(document, other)
    assert not names_digest(document, BASE)


def test_the_summary_reads_back_what_a_person_checks():
    read = summary(statement(facts()))
    assert (read.commit, read.ref, read.dockerfile, read.build_id) == (
        COMMIT, "refs/heads/master", "docker/Dockerfile", "b1",
    )  # fmt: skip
    assert read.base_images == (
        BaseImage("127.0.0.1:5000/lib/base:1", BASE),
        BaseImage("x:y", None),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"_type": "https://in-toto.io/Statement/v0.1"}, "not an in-toto Statement v1"),
        ({"predicateType": "https://slsa.dev/provenance/v0.2"}, "predicate type"),
        ({"predicate": {}}, "no 'buildDefinition'"),
    ],
)
def test_the_summary_refuses_other_statements(change, message):
    document = {**statement(facts()), **change}
    with pytest.raises(ProvenanceError, match=message):
        summary(document)


@pytest.mark.parametrize(
    ("reference", "purl"),
    [
        ("busybox", "pkg:docker/busybox@latest"),
        ("library/debian:12", "pkg:docker/library/debian@12"),
        ("127.0.0.1:5000/a/b:v1", "pkg:docker/a/b@v1?repository_url=127.0.0.1:5000"),
        (
            "ghcr.io/o/i@sha256:" + "1" * 64,
            "pkg:docker/o/i@sha256%3A" + "1" * 64 + "?repository_url=ghcr.io",
        ),
    ],
)
def test_base_images_are_named_as_docker_package_urls(reference, purl):
    assert image_purl(reference) == purl
