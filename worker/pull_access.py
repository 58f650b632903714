"""Why a ``FROM`` image was refused: a build is sent the credentials of its repository's
registries only (:func:`worker.phases.docker.registry_credentials`), so a private image on any
other registry answers 401. The build's error then says which registries get credentials and how
to add one (``pull_registries``), instead of the daemon's bare "no basic auth credentials"."""

from __future__ import annotations

import re

from worker.errors import DockerBuildError, sentence

# How the daemon (legacy builder) and BuildKit word a registry's refusal of an anonymous pull.
_REFUSED = re.compile(
    r"no basic auth credentials|401 unauthorized|unauthorized: |authentication required",
    re.IGNORECASE,
)


def is_refused_pull(error: DockerBuildError) -> bool:
    """The build failed because a registry refused an anonymous pull."""
    return bool(_REFUSED.search(error.message))


def explain_refused_pull(error: DockerBuildError, hosts: tuple[str, ...]) -> DockerBuildError:
    """``error`` with one more sentence when a registry refused the build's pull, else as is."""
    if not is_refused_pull(error):
        return error
    allowed = ", ".join(hosts) if hosts else "none"
    return DockerBuildError(
        f"{sentence(error.message, 360)} A registry refused to let this build pull an image: "
        f"its builds get registry credentials only for {allowed}; list another registry in the "
        "repository's pull_registries to pull private images from it"
    )
