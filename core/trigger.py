"""Docker Hub's trigger bodies turned into the builds they ask for (manual builds).

``{"build": true}`` builds every rule with a literal source; ``{"docker_tag": "latest"}`` the
literal-source rules that produce that tag (as on Docker Hub); ``{"source_type": "Tag",
"source_name": "v1.1"}`` the rules that match that ref, regex rules included. Rules with
``autobuild: false`` are triggerable.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from buildrules.matcher import plans_for_all, plans_for_docker_tag, plans_for_ref
from buildrules.model import BuildPlan, Repository
from buildrules.tags import is_valid_tag
from core.events import RefType
from core.gitnames import short_name_problem
from core.remote import RemoteRefs

MAX_NAME_LENGTH = 255


class TriggerError(ValueError):
    """The trigger body asks for something malformed (400) or not there (404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class TriggerKind(enum.StrEnum):
    ALL = "build"
    DOCKER_TAG = "docker_tag"
    REF = "source"


@dataclass(frozen=True)
class TriggerRequest:
    kind: TriggerKind
    docker_tag: str | None = None
    ref_type: RefType | None = None
    source_name: str | None = None


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise TriggerError(
            f"{key!r} must be a non-empty string of at most {MAX_NAME_LENGTH} characters."
        )
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise TriggerError(f"{key!r} must not contain control characters.")
    return value.strip()


def parse_trigger_body(body: Any) -> TriggerRequest:
    """An empty body means ``{"build": true}``, as Docker Hub's trigger URL did."""
    if body is None or body == {}:
        return TriggerRequest(TriggerKind.ALL)
    if not isinstance(body, dict):
        raise TriggerError("The trigger body must be a JSON object.")
    if "source_type" in body or "source_name" in body:
        raw_type = _text(body, "source_type").lower()
        if raw_type not in ("branch", "tag"):
            raise TriggerError("source_type must be 'Branch' or 'Tag'.")
        name = _text(body, "source_name")
        problem = short_name_problem(name)
        if problem is not None:
            raise TriggerError(f"source_name is not a valid {raw_type} name: {problem}.")
        return TriggerRequest(TriggerKind.REF, ref_type=RefType(raw_type), source_name=name)
    if "docker_tag" in body:
        tag = _text(body, "docker_tag")
        if not is_valid_tag(tag):
            raise TriggerError(
                "docker_tag is not a valid Docker tag (letters, digits, '_', '.' and '-', "
                "at most 128, not starting with '.' or '-')."
            )
        return TriggerRequest(TriggerKind.DOCKER_TAG, docker_tag=tag)
    if body.get("build") is True:
        return TriggerRequest(TriggerKind.ALL)
    raise TriggerError(
        'Send {"build": true}, {"docker_tag": "<tag>"} or '
        '{"source_type": "Branch"|"Tag", "source_name": "<name>"}.'
    )


def plans_for_trigger(
    repository: Repository, request: TriggerRequest, remote: RemoteRefs
) -> list[BuildPlan]:
    """The builds a trigger asks for, at the commits the remote has now (the rule language's
    manual-trigger entry points). Raises TriggerError (404) when the ref or tag is unknown."""
    if request.kind is TriggerKind.REF:
        assert request.ref_type is not None and request.source_name is not None
        commit = remote.commit(request.ref_type, request.source_name)
        if commit is None:
            raise TriggerError(
                f"{repository.name} has no {request.ref_type.value} {request.source_name!r}.", 404
            )
        plans = plans_for_ref(repository, request.ref_type, request.source_name, commit)
        if not plans:
            raise TriggerError(
                f"No build rule of {repository.name} matches {request.ref_type.value} "
                f"{request.source_name!r}.",
                404,
            )
        return list(plans)
    if request.kind is TriggerKind.ALL:
        plans = plans_for_all(repository, remote.commit)
        if not plans:
            raise TriggerError(
                f"None of the branches or tags {repository.name}'s rules name exist.", 404
            )
        return list(plans)
    assert request.docker_tag is not None
    plans = plans_for_docker_tag(repository, request.docker_tag, remote.commit)
    if not plans:
        raise TriggerError(
            f"No rule of {repository.name} whose branch or tag exists produces the tag "
            f"{request.docker_tag!r}.",
            404,
        )
    return list(plans)
