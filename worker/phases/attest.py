"""The ``attest`` phase: after a successful push, the build's provenance (every pushed digest's,
an index's platforms too) and, with ``AUTOBUILD_SIGNING_KEY``, cosign signatures are pushed beside
the image (:mod:`worker.attest`; docs/trust.md). Skipped when nothing was pushed."""

from __future__ import annotations

from dataclasses import dataclass

from buildrules.model import Repository
from core.build import BuildRecord, BuildStatus
from worker.attest import Attester, attest_build, read_dockerfile, resolve_bases
from worker.basecheck import remember_bases
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.build import BuildOutput
from worker.phases.clone import CloneOutput
from worker.phases.docker import RegistryTarget, docker_api, registry_target
from worker.phases.verify import Verdict
from worker.registry import RegistryClient


@dataclass(frozen=True)
class AttestInput:
    record: BuildRecord
    repository: Repository
    digest: str  # the pushed image's (or index's)
    dockerfile: str  # its text, for the FROM images
    builder: str  # buildkit | legacy
    registry: RegistryTarget


@dataclass(frozen=True)
class AttestOutput(PhaseOutput):
    digests: tuple[str, ...]  # every digest attested
    signed: bool


class AttestPhase(Phase[AttestInput, AttestOutput]):
    name = "attest"
    activity = "attaching the provenance"

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        verdict = results.find(Verdict)
        return verdict is not None and verdict.status is BuildStatus.SUCCESS

    def prepare(self, env: PhaseEnv, results: Results) -> AttestInput:
        checkout = results.get(CloneOutput).build_context
        verdict = results.get(Verdict)
        return AttestInput(
            record=env.record.with_changes(**verdict.fields),
            repository=env.repository,
            digest=str(verdict.fields["digest"]),
            dockerfile=read_dockerfile(checkout.directory / checkout.dockerfile),
            builder=results.get(BuildOutput).choice.builder,
            registry=registry_target(env),
        )

    def run(self, env: PhaseEnv, given: AttestInput) -> AttestOutput:
        context = env.context
        env.log.phase(self.name, f"Attaching the provenance of {given.record.image}@{given.digest}")
        target = given.registry
        attester = Attester.create(context.settings, context.config, context.masker, context.redis)
        api = docker_api(env)
        bases = resolve_bases(attester, api, given.dockerfile, given.record)
        with RegistryClient(
            target.host,
            target.credentials,
            timeout=context.registry_timeout,
            insecure_registries=context.settings.insecure_registries,
        ) as registry:
            attestation = attest_build(
                attester,
                registry,
                api,
                given.record,
                given.repository,
                given.digest,
                given.dockerfile,
                env.output(self.name),
                builder=given.builder,
                bases=bases,
            )
        remember_bases(context.redis, given.repository, given.record, bases)
        return AttestOutput(attestation.digests, attestation.signed)
