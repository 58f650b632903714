"""The ``clone`` phase: fetch the exact commit into the repository's mirror and export it as the
build context (removed when the attempt ends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.build import BuildStatus
from core.deploykey import DeployKey, DeployKeyError, read_deploy_key
from core.events import RefType
from core.gitcmd import url_host
from core.registry_address import registry_host_of
from worker.builders import choice_for
from worker.checkout import BuildContext, GitSource, Mirror, checkout_context
from worker.commit_tags import commit_date_tags, preview_tags
from worker.docker_build import validate_reference
from worker.emulation import check_platforms
from worker.errors import WorkerError
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.pullsource import git_source, resolve_abbreviated
from worker.registry import resolve_credentials

FETCHED = {"present": "already in the mirror", "commit": "fetched", "ref": "fetched with its ref"}


@dataclass(frozen=True)
class CloneInput:
    source: GitSource
    source_type: RefType
    source_name: str
    context: str  # in the repository
    dockerfile: str  # in the context
    scratch_dir: Path
    submodules: str = "false"  # false | true | recursive
    ssh_key: DeployKey | None = field(default=None, repr=False)  # ssh_key_env's deploy key


@dataclass(frozen=True)
class CloneOutput(PhaseOutput):
    build_context: BuildContext
    docker_tags: tuple[str, ...] | None = None  # tags finished with {commit_date}, if any

    def record_fields(self) -> dict[str, Any]:
        # The record names the commit built (labels, tag order and the API read it).
        fields: dict[str, Any] = {"commit": self.build_context.commit}
        if self.docker_tags is not None:
            fields["docker_tags"] = self.docker_tags
        return fields


class ClonePhase(Phase[CloneInput, CloneOutput]):
    name = "clone"
    status = BuildStatus.CLONING
    activity = "fetching the commit"

    def prepare(self, env: PhaseEnv, results: Results) -> CloneInput:
        record = env.record
        # Refused before any network work: bad tags, platforms this host cannot build, a registry
        # whose credentials are unset.
        validate_reference(record.image, preview_tags(record.docker_tags, record.commit))
        check_platforms(
            choice_for(env.repository, record).platforms,
            env.context.settings.environ.get("DOCKER_HOST"),
        )
        resolve_credentials(
            env.context.config, env.context.settings, registry_host_of(record.image)
        )
        return CloneInput(
            source=git_source(env.repository, record),
            source_type=record.source_type,
            source_name=record.source_name,
            context=record.context,
            dockerfile=record.dockerfile,
            scratch_dir=env.context.scratch_dir,
            submodules=env.repository.submodules,
            ssh_key=_deploy_key(env),
        )

    def run(self, env: PhaseEnv, given: CloneInput) -> CloneOutput:
        source, repository, context = given.source, env.repository, env.context
        env.log.phase(
            self.name,
            f"Fetching commit {source.short} ({given.source_type.value} {given.source_name})"
            f" from {url_host(source.clone_url)}",
        )
        mirror = Mirror.for_repository(
            context.settings.workdir,
            repository.provider,
            repository.name,
            repository.clone_url,
            context.settings.environ,
            context.git_config,
        )
        source = resolve_abbreviated(mirror, source, env.deadline)
        build_context = env.resources.enter_context(
            checkout_context(
                mirror,
                source,
                context=given.context,
                dockerfile=given.dockerfile,
                scratch_dir=given.scratch_dir,
                deadline=env.deadline,
                log=env.output(self.name),
                max_bytes=context.settings.max_export_bytes,
                submodules=given.submodules,
                ssh_key=given.ssh_key,
            )
        )
        fetched = "Tag object" if build_context.fetch.peeled else "Commit"
        log = env.output(self.name)
        log(f"{fetched} {source.short} {FETCHED[build_context.fetch.method]}")
        if build_context.commit != source.commit:
            log(
                f"Tag {given.source_name} is an annotated tag object {source.short};"
                f" building its commit {build_context.commit[:7]}"
            )
        info = build_context.info
        tags = commit_date_tags(
            env.record.docker_tags, build_context.commit, info.committed_at if info else None
        )
        if tags is not None:
            validate_reference(env.record.image, tags)
            log(f"Tags with the commit's date: {', '.join(tags)}")
        return CloneOutput(build_context, tags)


def _deploy_key(env: PhaseEnv) -> DeployKey | None:
    """The repository's deploy key (``ssh_key_env``); unset, it is the build's error."""
    settings = env.context.settings
    try:
        return read_deploy_key(
            settings.environ, env.repository.ssh_key_env, settings.ssh_known_hosts
        )
    except DeployKeyError as exc:
        raise WorkerError(str(exc)) from None
