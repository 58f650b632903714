"""The ``verify`` phase: decide how the build ends from what the phases before it proved.

A build is ``success`` only when the build stream ended with an image id and every tag was
pushed with one digest that the registry confirmed (the push confirms each tag while it holds the
tag's lock; see :mod:`worker.phases.push`). A build whose every tag had already been pushed by
newer commits' builds ends ``superseded``. Signing and attestations come after this phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.build import BuildStatus
from worker.errors import RegistryError
from worker.phases.base import Phase, PhaseEnv, PhaseOutput, Results
from worker.phases.build import BuildOutput
from worker.phases.push import PushOutput
from worker.push import PushResult


@dataclass(frozen=True)
class VerifyInput:
    image: str
    source_name: str
    tags: tuple[str, ...]
    image_id: str | None  # None: a multi-platform build (its digest is an index)
    multi_platform: bool
    pushed: PushResult
    platform_digests: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Verdict(PhaseOutput):
    """How the build ends: its status, the log's last line, and the fields recorded with it."""

    status: BuildStatus
    line: str
    fields: dict[str, Any] = field(default_factory=dict)


class VerifyPhase(Phase[VerifyInput, Verdict]):
    name = "verify"
    activity = "verifying the pushed image"

    def wanted(self, env: PhaseEnv, results: Results) -> bool:
        return results.find(PushOutput) is not None  # nothing pushed: see unpushed_verdict

    def prepare(self, env: PhaseEnv, results: Results) -> VerifyInput:
        record = env.record
        return VerifyInput(
            image=record.image,
            source_name=record.source_name,
            tags=record.docker_tags,
            image_id=results.get(BuildOutput).image_id,
            multi_platform=results.get(BuildOutput).choice.multi_platform,
            pushed=results.get(PushOutput).result,
            platform_digests=results.get(PushOutput).platform_digests,
        )

    def run(self, env: PhaseEnv, given: VerifyInput) -> Verdict:
        pushed = given.pushed
        missing = [t for t in given.tags if t not in pushed.tags and t not in pushed.skipped]
        if missing or not (given.image_id or given.multi_platform):
            what = f"tags {', '.join(missing)} were not pushed" if missing else "no image id"
            raise RegistryError(f"The build of {given.image} cannot be trusted: {what}")
        skipped = ", ".join(pushed.skipped)
        if pushed.digest is None:
            message = (
                f"Nothing was pushed: builds of newer commits of {given.source_name} had"
                f" already pushed {skipped}."
            )
            return Verdict(
                BuildStatus.SUPERSEDED,
                f"Build superseded: {message}",
                {"error": message, "skipped_tags": pushed.skipped},
            )
        note = f"; skipped {skipped} (newer commits' builds had pushed them)" if skipped else ""
        return Verdict(
            BuildStatus.SUCCESS,
            f"Build succeeded: {given.image} ({', '.join(pushed.tags)}) is {pushed.digest}{note}",
            {
                "digest": pushed.digest,
                "image_id": given.image_id,
                "error": None,
                "skipped_tags": pushed.skipped,
                "platform_digests": given.platform_digests,
            },
        )


def unpushed_verdict(image: str, results: Results) -> Verdict:
    """How a build that pushes nothing (``push: false``) ends: ``success`` once built (and
    tested). Its ``digest`` stays None: no registry holds the image; ``image_id`` names it."""
    image_id = results.get(BuildOutput).image_id
    return Verdict(
        BuildStatus.SUCCESS,
        f"Build succeeded: {image} was built and tested; nothing was pushed (push: false)",
        {"digest": None, "image_id": image_id, "error": None},
    )
