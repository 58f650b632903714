"""After a verified push: the build's provenance (and, with a key, its signatures) in the registry.

:func:`attest_build` is called once per successful push. It resolves every ``FROM`` image to the
digest the daemon built from (its ``RepoDigests``, else the registry's answer for the tag), states
the SLSA v1 provenance (:mod:`core.provenance`), attaches it as a DSSE envelope under the
digest's ``sha256-<hex>.att`` tag and, when ``AUTOBUILD_SIGNING_KEY`` is set, signs every pushed
digest under ``sha256-<hex>.sig`` (:mod:`core.cosign`); then remembers what was pushed
(:mod:`core.trust_store`). Registry failures raise :class:`~worker.errors.RegistryError`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import redis

from buildrules.model import Config, Repository
from core.build import BuildRecord, utcnow
from core.cosign import (
    CosignKeyError,
    SigningKey,
    attach,
    attestation_layer,
    load_signing_key,
    signature_layer,
)
from core.events import RefType
from core.gitcmd import strip_credentials
from core.masking import Masker
from core.provenance import FALLBACK_BUILDER_ID, SLSA_PROVENANCE_V1, BaseImage, BuildFacts
from core.provenance import statement as provenance_statement
from core.registry_api import DIGEST_RE, split_image, split_reference
from core.settings import Settings
from core.trust_store import Attestation, TrustStore
from worker.errors import RegistryError, WorkerError
from worker.registry import RegistryClient, resolve_credentials

LineFn = Callable[[str], None]
MAX_DOCKERFILE_BYTES = 256 * 1024
_FROM = re.compile(r"^\s*FROM\s+(.+)$", re.I)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$", re.I)
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _instructions(text: str) -> list[str]:
    """The Dockerfile's lines with continuations joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not pending and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending)
    return joined


def read_dockerfile(path: Path) -> str:
    """The Dockerfile built (its first 256 KiB), kept with the provenance for the Images page."""
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_DOCKERFILE_BYTES).decode(errors="replace")
    except OSError:
        return ""


def base_references(text: str, build_args: Mapping[str, str]) -> tuple[str, ...]:
    """The images the Dockerfile's ``FROM`` lines name (build args substituted), without
    ``scratch`` and earlier stages."""
    values: dict[str, str] = {}
    stages: set[str] = set()
    found: list[str] = []
    seen_from = False
    for line in _instructions(text):
        arg = _ARG.match(line)
        if arg and not seen_from:
            default = (arg.group(2) or "").strip().strip('"').strip("'")
            values[arg.group(1)] = build_args.get(arg.group(1), default)
            continue
        match = _FROM.match(line)
        if match is None:
            continue
        seen_from = True
        try:
            words = [w for w in shlex.split(match.group(1)) if not w.startswith("--")]
        except ValueError:
            continue
        if not words:
            continue
        image = _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), words[0])
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        if image and image.lower() != "scratch" and image.lower() not in stages:
            found.append(image)
    return tuple(dict.fromkeys(found))


def _repo_digest_name(name: str) -> str:
    """How the daemon writes a repository in ``RepoDigests`` (Docker Hub's prefixes dropped)."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


@dataclass(frozen=True)
class Attester:
    """What attesting needs from the worker: settings, configuration, masker, Redis store."""

    settings: Settings
    config: Config
    masker: Masker
    store: TrustStore

    @classmethod
    def create(
        cls, settings: Settings, config: Config, masker: Masker, connection: redis.Redis
    ) -> Attester:
        return cls(settings, config, masker, TrustStore(connection))

    def signing_key(self) -> SigningKey | None:
        if self.settings.signing_key is None:
            return None
        try:
            return load_signing_key(self.settings.signing_key)
        except CosignKeyError as exc:
            raise WorkerError(f"AUTOBUILD_SIGNING_KEY is unusable: {exc}") from exc

    def resolve_base(self, api: Any, reference: str) -> BaseImage:
        """The digest ``reference`` resolved to when the daemon built from it."""
        name, tag = split_reference(reference)
        if DIGEST_RE.fullmatch(tag):
            return BaseImage(reference, tag)
        try:
            inspected = api.inspect_image(reference)
        except (docker.errors.DockerException, OSError):
            inspected = {}
        wanted = _repo_digest_name(name)
        for entry in inspected.get("RepoDigests") or ():
            repo, _, digest = str(entry).partition("@")
            if _repo_digest_name(repo) == wanted and DIGEST_RE.fullmatch(digest):
                return BaseImage(reference, digest)
        host, path = split_image(name)
        try:
            credentials = resolve_credentials(self.config, self.settings, host)
            with RegistryClient(
                host,
                credentials,
                timeout=10.0,
                insecure_registries=self.settings.insecure_registries,
            ) as registry:
                return BaseImage(reference, registry.manifest_digest(path, tag))
        except WorkerError:
            return BaseImage(reference, None)

    def facts(
        self,
        record: BuildRecord,
        repository: Repository,
        digests: tuple[str, ...],
        bases: tuple[BaseImage, ...],
        builder: str,
    ) -> BuildFacts:
        kind = "tags" if record.source_type is RefType.TAG else "heads"
        rules = [
            repository.build_rules[i]
            for i in record.rule_indexes
            if 0 <= i < len(repository.build_rules)
        ]
        rule: dict[str, Any] = {"source_type": record.source_type.value}
        if rules:
            rule.update(source=rules[0].source, docker_tag=list(rules[0].docker_tags))
        return BuildFacts(
            build_id=record.id,
            image=record.image,
            digests=digests,
            tags=record.docker_tags,
            repository=f"{record.provider}/{record.repository}",
            clone_url=strip_credentials(repository.clone_url),
            ref=record.pull_request.fetch_ref
            if record.pull_request
            else f"refs/{kind}/{record.source_name}",
            commit=record.commit,
            rule=rule,
            dockerfile=record.dockerfile,
            context=record.context,
            build_args={k: self.masker.mask(v) for k, v in record.build_args},
            builder=builder,
            base_images=bases,
            builder_id=self.settings.public_url or FALLBACK_BUILDER_ID,
            started_at=record.started_at,
            finished_at=utcnow(),
        )


def pushed_digests(registry: RegistryClient, path: str, digest: str) -> tuple[str, ...]:
    """The digest, and each platform's when it is an index (multi-platform builds)."""
    manifest = registry.get_manifest(path, digest)
    if manifest is None:
        raise RegistryError(f"Registry {registry.host} no longer has {path}@{digest}")
    if not manifest.is_index:
        return (digest,)
    platforms = [
        str(m["digest"])
        for m in manifest.json().get("manifests") or ()
        if isinstance(m, dict) and DIGEST_RE.fullmatch(str(m.get("digest", "")))
    ]
    return (digest, *platforms)


def resolve_bases(
    attester: Attester, api: Any, dockerfile: str, record: BuildRecord
) -> tuple[BaseImage, ...]:
    """Every ``FROM`` image of ``dockerfile`` (``record``'s build args applied), resolved."""
    base_refs = base_references(dockerfile, dict(record.build_args))
    return tuple(attester.resolve_base(api, ref) for ref in base_refs)


def attest_build(
    attester: Attester,
    registry: RegistryClient,
    api: Any,
    record: BuildRecord,
    repository: Repository,
    digest: str,
    dockerfile: str,
    on_line: LineFn,
    builder: str = "legacy",
    bases: tuple[BaseImage, ...] | None = None,
) -> Attestation:
    """Attach provenance (signed with a key) to ``digest`` and sign it; see the module doc.
    ``bases`` are the ``FROM`` images resolved already (None: resolve them here)."""
    path = split_image(record.image)[1]
    key = attester.signing_key()
    digests = pushed_digests(registry, path, digest)
    if bases is None:
        bases = resolve_bases(attester, api, dockerfile, record)
    for base in bases:
        on_line(f"Base image {base.reference} is {base.digest or 'of unknown digest'}")
    facts = attester.facts(record, repository, digests, bases, builder)
    document = provenance_statement(facts)
    layer = attestation_layer(document, key, SLSA_PROVENANCE_V1)
    for subject in digests:
        tag = attach(registry, path, subject, "att", layer)
        on_line(f"Provenance of {subject} pushed as {record.image}:{tag}")
        if key is not None:
            tag = attach(
                registry,
                path,
                subject,
                "sig",
                signature_layer(record.image, subject, key, record.id),
            )
            on_line(f"Signed {subject} as {record.image}:{tag}")
    if key is None:
        on_line("Provenance is unsigned: AUTOBUILD_SIGNING_KEY is not set")
    attestation = Attestation(
        record.id, record.image, digests, key is not None, document, dockerfile
    )
    attester.store.record(attestation, facts.finished_at or utcnow())
    return attestation
