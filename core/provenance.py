"""SLSA provenance v1 for a build: an in-toto Statement v1 about the pushed digests.

Pure data: :func:`statement` turns what the worker knows after a push into the statement, and
:func:`summary` reads the facts a person checks back out of one (for ``autobuild verify``, the
API and the UI). Build args are included as the build record holds them, after masking: a value
that is a configured secret never appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://autobuild.invalid/build-types/docker-image/v1"
FALLBACK_BUILDER_ID = "urn:autobuild:builder:unconfigured"  # without AUTOBUILD_PUBLIC_URL


class ProvenanceError(ValueError):
    """A statement that is not Autobuild's SLSA v1 provenance."""


@dataclass(frozen=True)
class BaseImage:
    """A ``FROM`` image: as written (after build args), and the digest it resolved to."""

    reference: str
    digest: str | None


@dataclass(frozen=True)
class BuildFacts:
    """What the provenance of one successful build states."""

    build_id: str
    image: str  # registry/repository, no tag
    digests: tuple[str, ...]  # the pushed manifest (index first for multi-platform builds)
    tags: tuple[str, ...]
    repository: str  # provider/name
    clone_url: str  # without credentials
    ref: str  # refs/heads/master, refs/tags/v1
    commit: str
    rule: Mapping[str, Any]
    dockerfile: str
    context: str
    build_args: Mapping[str, str]
    builder: str  # legacy | buildkit
    base_images: tuple[BaseImage, ...]
    builder_id: str
    started_at: datetime | None
    finished_at: datetime | None


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _digest_map(digest: str) -> dict[str, str]:
    algorithm, _, value = digest.partition(":")
    return {algorithm: value}


def image_purl(reference: str) -> str:
    """``127.0.0.1:5000/lib/base:1`` -> ``pkg:docker/lib/base@1?repository_url=127.0.0.1:5000``."""
    name, tag = reference, "latest"
    if "@" in name:
        name, tag = name.split("@", 1)  # pinned by digest: the digest is the version
    elif ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    host, _, path = name.partition("/")
    if path and ("." in host or ":" in host or host == "localhost"):
        return f"pkg:docker/{path}@{quote(tag)}?repository_url={quote(host, safe=':')}"
    return f"pkg:docker/{name}@{quote(tag)}"


def statement(facts: BuildFacts) -> dict[str, Any]:
    """The in-toto Statement v1 with the SLSA provenance v1 predicate."""
    dependencies: list[dict[str, Any]] = [
        {
            "uri": f"git+{facts.clone_url}@{facts.ref}",
            "digest": {"gitCommit": facts.commit},
        }
    ]
    for base in facts.base_images:
        entry: dict[str, Any] = {"uri": image_purl(base.reference), "name": base.reference}
        if base.digest:
            entry["digest"] = _digest_map(base.digest)
        dependencies.append(entry)
    metadata: dict[str, Any] = {"invocationId": facts.build_id}
    for key, moment in (("startedOn", facts.started_at), ("finishedOn", facts.finished_at)):
        if moment is not None:
            metadata[key] = _rfc3339(moment)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": facts.image, "digest": _digest_map(d)} for d in facts.digests],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "repository": facts.repository,
                    "source": facts.clone_url,
                    "ref": facts.ref,
                    "commit": facts.commit,
                    "rule": dict(facts.rule),
                    "dockerfile": facts.dockerfile,
                    "context": facts.context,
                    "buildArgs": dict(facts.build_args),
                    "tags": list(facts.tags),
                },
                "internalParameters": {"builder": facts.builder},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": facts.builder_id},
                "metadata": metadata,
            },
        },
    }


@dataclass(frozen=True)
class Summary:
    """What a person checks: where the image came from."""

    repository: str
    source: str
    ref: str
    commit: str
    dockerfile: str
    context: str
    build_id: str
    builder_id: str
    subjects: tuple[str, ...]
    base_images: tuple[BaseImage, ...]


def _field(mapping: Any, key: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ProvenanceError(f"the provenance has no {key!r}")
    return mapping[key]


def summary(document: Mapping[str, Any]) -> Summary:
    """The facts of an Autobuild provenance statement; ProvenanceError for anything else."""
    if document.get("_type") != STATEMENT_TYPE:
        raise ProvenanceError("not an in-toto Statement v1")
    if document.get("predicateType") != SLSA_PROVENANCE_V1:
        raise ProvenanceError(f"predicate type is {document.get('predicateType')!r}")
    predicate = _field(document, "predicate")
    definition = _field(predicate, "buildDefinition")
    parameters = _field(definition, "externalParameters")
    run = _field(predicate, "runDetails")
    subjects = tuple(
        f"{algorithm}:{value}"
        for subject in document.get("subject") or ()
        if isinstance(subject, Mapping)
        for algorithm, value in (subject.get("digest") or {}).items()
    )
    bases = tuple(
        BaseImage(
            str(entry.get("name", entry.get("uri", ""))),
            "".join(f"{a}:{v}" for a, v in (entry.get("digest") or {}).items()) or None,
        )
        for entry in definition.get("resolvedDependencies") or ()
        if isinstance(entry, Mapping) and str(entry.get("uri", "")).startswith("pkg:docker/")
    )
    return Summary(
        repository=str(_field(parameters, "repository")),
        source=str(parameters.get("source", "")),
        ref=str(_field(parameters, "ref")),
        commit=str(_field(parameters, "commit")),
        dockerfile=str(_field(parameters, "dockerfile")),
        context=str(parameters.get("context", "/")),
        build_id=str(_field(run, "metadata").get("invocationId", "")),
        builder_id=str(_field(_field(run, "builder"), "id")),
        subjects=subjects,
        base_images=bases,
    )


def names_digest(document: Mapping[str, Any], digest: str) -> bool:
    """True when ``digest`` is one of the statement's subjects."""
    algorithm, _, value = digest.partition(":")
    return any(
        isinstance(s, Mapping) and (s.get("digest") or {}).get(algorithm) == value
        for s in document.get("subject") or ()
    )
