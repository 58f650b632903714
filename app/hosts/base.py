"""What every git host module shares: the errors, the module protocol and strict payload helpers.

Webhook bodies are untrusted until their signature is checked, and even then they are only as
careful as the host that sent them. Everything here either returns a value of the promised type or
raises a :class:`HostError` whose message is a sentence for a person; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs

from core.events import Delivery, RefType
from core.gitnames import full_ref, is_commit_id, is_zero_id
from core.gitnames import ref_name_problem as _git_ref_problem
from core.gitnames import split_ref as _split_full_ref

T = TypeVar("T")

MAX_NAME_LENGTH = 255
MAX_DELIVERY_ID_LENGTH = 200
MAX_FORM_FIELDS = 100
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_DELIVERY_ID_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


class HostError(ValueError):
    """A delivery Autobuild cannot accept. The message is a sentence for a person."""


class PayloadError(HostError):
    """The body or its headers are malformed (answered 400)."""


class SignatureError(HostError):
    """The signature or token is missing or wrong (answered 401)."""


class PingWithoutRepository(HostError):  # noqa: N818 - a ping, not an error: answered 200
    """A delivery that names no repository and asks for nothing: a ping, or an event kind that is
    not built (an organization event, say). Answered 200, ignored, with the message as reason."""


class HeaderMap(Protocol):
    """What the host modules need from headers: a ``dict``, or werkzeug's ``Headers``."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


class HostModule(Protocol):
    """The three functions every module in ``app.hosts`` provides."""

    def repository_name(self, headers: HeaderMap, body: bytes) -> str: ...

    def verify(self, headers: HeaderMap, body: bytes, secret: str) -> None: ...

    def parse(self, headers: HeaderMap, body: bytes) -> Delivery: ...


# --- headers -------------------------------------------------------------------------------------


def header(headers: HeaderMap, name: str) -> str | None:
    """The value of header ``name``, whatever its case in ``headers``; None when absent."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        for key, candidate in headers.items():
            if key.lower() == wanted:
                value = candidate
                break
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"The {name} header is not text.")
    return value


def first_header(headers: HeaderMap, names: Iterable[str]) -> tuple[str, str] | None:
    """The first of ``names`` present in ``headers``, as (name, value)."""
    for name in names:
        value = header(headers, name)
        if value is not None:
            return name, value
    return None


def delivery_id(headers: HeaderMap, names: Iterable[str], body: bytes) -> str:
    """The first present delivery-id header, checked; else a stable id derived from the body.

    The derived id (``sha256:<hex of the body>``) is the same for a redelivery of the same bytes,
    so duplicates are still recognised when a host sends no id.
    """
    found = first_header(headers, names)
    if found is None or not found[1].strip():
        return body_delivery_id(body)
    name, value = found
    return check_delivery_id(value.strip(), f"{name} header")


def body_delivery_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def check_delivery_id(value: str, where: str) -> str:
    if len(value) > MAX_DELIVERY_ID_LENGTH or not _DELIVERY_ID_RE.fullmatch(value):
        raise PayloadError(
            f"The {where} is not a usable delivery id "
            f"(printable ASCII without spaces, at most {MAX_DELIVERY_ID_LENGTH} characters)."
        )
    return value


def media_type(headers: HeaderMap) -> str:
    """The Content-Type without parameters, lower case; empty when absent."""
    value = header(headers, "Content-Type") or ""
    return value.split(";", 1)[0].strip().lower()


# --- signatures ----------------------------------------------------------------------------------


def hmac_sha256_hex(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def check_secret_configured(secret: str) -> None:
    if not secret:
        raise SignatureError("No webhook secret is configured for this repository.")


def check_hex_signature(given: str, secret: str, data: bytes, header_name: str) -> None:
    """Compare a hex HMAC-SHA256 given by the sender with ours, in constant time."""
    check_secret_configured(secret)
    given = given.strip().lower()
    if not given:
        raise SignatureError(f"The {header_name} header is empty: set a secret on the webhook.")
    expected = hmac_sha256_hex(secret, data)
    if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii")):
        raise SignatureError(
            f"The {header_name} signature does not match: the webhook's secret differs from "
            "the configured one, or the body was changed on the way."
        )


def check_prefixed_signature(
    headers: HeaderMap, header_name: str, secret: str, data: bytes
) -> None:
    """Check a ``sha256=<hex>`` header (GitHub, Bitbucket, our git hook)."""
    check_secret_configured(secret)
    value = header(headers, header_name)
    if value is None:
        raise SignatureError(
            f"The {header_name} header is missing: set the same secret on the webhook as in "
            "Autobuild's configuration."
        )
    algorithm, sep, digest = value.strip().partition("=")
    if not sep or algorithm.strip().lower() != "sha256":
        raise SignatureError(
            f"The {header_name} header must be 'sha256=<hex digest>'; other algorithms are refused."
        )
    check_hex_signature(digest, secret, data, header_name)


# --- bodies --------------------------------------------------------------------------------------


def _decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"The {what} is not valid UTF-8 (byte {exc.start}).") from None


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"The body contains {name}, which is not valid JSON.")


def load_json_object(data: bytes, what: str = "body") -> dict[str, Any]:
    """Parse JSON text into an object (dict); anything else is a :class:`PayloadError`."""
    text = _decode_utf8(data, what)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"The {what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise PayloadError(f"The {what} is nested too deeply to be a webhook payload.") from None
    except PayloadError:
        raise
    except ValueError as exc:  # e.g. an integer too long to convert
        raise PayloadError(f"The {what} is not usable JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise PayloadError(f"The {what} must be a JSON object, not {type_name(value)}.")
    return value


def form_payload(body: bytes) -> bytes:
    """The ``payload`` field of a form-encoded body, as the JSON bytes it carries."""
    text = _decode_utf8(body, "form body")
    try:
        fields = parse_qs(
            text,
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        raise PayloadError("The form body's payload field is not valid UTF-8.") from None
    except ValueError:
        raise PayloadError("The form body has too many fields to be a webhook delivery.") from None
    values = fields.get("payload")
    if not values:
        raise PayloadError("The form body has no 'payload' field.")
    if len(values) > 1:
        raise PayloadError("The form body has more than one 'payload' field.")
    return values[0].encode("utf-8")


def json_bytes(headers: HeaderMap, body: bytes, *, form_allowed: bool) -> bytes:
    """The JSON text of a delivery: the body itself, or its form ``payload`` field.

    Decided by Content-Type; without a telling one, a body starting with ``payload=`` is a form.
    """
    kind = media_type(headers)
    if kind == FORM_CONTENT_TYPE or (
        kind != "application/json" and not kind.endswith("+json") and body.startswith(b"payload=")
    ):
        if not form_allowed:
            raise PayloadError("This host sends JSON bodies; a form-encoded body is not accepted.")
        return form_payload(body)
    return body


# --- typed access to untrusted JSON --------------------------------------------------------------


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _missing(path: str) -> PayloadError:
    return PayloadError(f"The payload has no '{path}'.")


def _wrong(path: str, wanted: str, value: object) -> PayloadError:
    return PayloadError(f"The payload's '{path}' must be {wanted}, not {type_name(value)}.")


def _optional(data: Mapping[str, Any], key: str, path: str, kind: type[T], wanted: str) -> T | None:
    """``data[key]`` when it is a ``kind``; None when absent or null; else a PayloadError."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise _wrong(path, f"{wanted} or null", value)
    return value


def _required(data: Mapping[str, Any], key: str, path: str, kind: type[T], wanted: str) -> T:
    """``data[key]``, which must be there and be a ``kind``."""
    if key not in data:
        raise _missing(path)
    value = data[key]
    if not isinstance(value, kind):
        raise _wrong(path, wanted, value)
    return value


def get_obj(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    return _required(data, key, path, dict, "an object")


def opt_obj(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    return _optional(data, key, path, dict, "an object")


def get_list(data: Mapping[str, Any], key: str, path: str) -> list[Any]:
    return _required(data, key, path, list, "an array")


def opt_list(data: Mapping[str, Any], key: str, path: str) -> list[Any] | None:
    return _optional(data, key, path, list, "an array")


def get_str(data: Mapping[str, Any], key: str, path: str) -> str:
    if data.get(key) is None:
        raise _missing(path)
    return _required(data, key, path, str, "a string")


def opt_str(data: Mapping[str, Any], key: str, path: str) -> str | None:
    return _optional(data, key, path, str, "a string")


def opt_bool(data: Mapping[str, Any], key: str, path: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong(path, "true or false", value)
    return value


def opt_int(data: Mapping[str, Any], key: str, path: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(path, "a whole number", value)
    return value


def objects(items: list[Any], path: str) -> list[dict[str, Any]]:
    """Every element of ``items`` as an object; any other element is a :class:`PayloadError`."""
    result: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _wrong(f"{path}[{index}]", "an object", item)
        result.append(item)
    return result


# --- values ---------------------------------------------------------------------------------------


def check_sha(value: str, path: str) -> str:
    """A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits."""
    if not is_commit_id(value):
        shown = value if len(value) <= 80 and value.isprintable() else "(unprintable)"
        raise PayloadError(
            f"The payload's '{path}' must be a full commit id (40 or 64 lowercase hex digits), "
            f"not {shown!r}."
        )
    return value


def sha_field(data: Mapping[str, Any], key: str, path: str) -> str:
    return check_sha(get_str(data, key, path), path)


def previous_sha(value: str | None, path: str) -> str | None:
    """A ``before`` value: None for a new ref (absent or all zeros), else a checked sha."""
    if value is None or is_zero_id(value):
        return None
    return check_sha(value, path)


def ref_name_problem(ref: str) -> str | None:
    """Why ``ref`` is not a valid full ref name (``git check-ref-format`` rules, and at most
    MAX_NAME_LENGTH characters), or None."""
    if len(ref) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    return _git_ref_problem(ref)


def check_ref(ref: str, path: str) -> str:
    problem = ref_name_problem(ref)
    if problem is not None:
        raise PayloadError(f"The payload's '{path}' is not a valid git ref name: {problem}.")
    return ref


def split_ref(ref: str, path: str) -> tuple[RefType, str] | None:
    """Check a full ref and split it into (type, short name); None outside refs/heads and refs/tags.

    The short name must not start with '-', so it can never be read as a command-line option.
    """
    check_ref(ref, path)
    split = _split_full_ref(ref)
    if split is None:
        return None
    ref_type, short = split
    if not short:
        raise PayloadError(f"The payload's '{path}' names no branch or tag: {ref!r}.")
    if short.startswith("-"):
        raise PayloadError(
            f"The payload's '{path}' is not acceptable: a branch or tag name must not "
            "start with '-'."
        )
    return ref_type, short


def ref_from_short(ref_type: RefType, short: str, path: str) -> tuple[RefType, str]:
    """Check a short branch or tag name (as Bitbucket Cloud sends them) by its full ref."""
    result = split_ref(full_ref(ref_type, short), path)
    assert result is not None
    return result


def not_built_ref(ref: str) -> str:
    return f"ref {ref!r} is neither a branch nor a tag; only branches and tags are built"


def check_repository_name(value: str, path: str) -> str:
    if not value or not value.strip():
        raise PayloadError(f"The payload's '{path}' is empty.")
    if len(value) > MAX_NAME_LENGTH:
        raise PayloadError(f"The payload's '{path}' is longer than {MAX_NAME_LENGTH} characters.")
    if not value.isprintable() or value != value.strip():
        raise PayloadError(
            f"The payload's '{path}' contains control characters or surrounding spaces."
        )
    return value


def text_field(value: object, path: str) -> str:
    """A free-text value such as a commit message: a string, or empty when null."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _wrong(path, "a string", value)
    return value


def file_paths(commit: Mapping[str, Any], path: str) -> list[str] | None:
    """The added, modified and removed paths of one commit; None when the lists are absent."""
    found: list[str] = []
    for key in ("added", "modified", "removed"):
        if key not in commit:
            return None
        items = commit[key]
        if items is None:
            return None
        if not isinstance(items, list):
            raise _wrong(f"{path}.{key}", "an array", items)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise _wrong(f"{path}.{key}[{index}]", "a string", item)
            if not item or "\x00" in item:
                raise PayloadError(f"The payload's '{path}.{key}[{index}]' is not a file path.")
            found.append(item)
    return found


def changed_files(commits: list[dict[str, Any]]) -> tuple[str, ...] | None:
    """Every path the listed commits touched, or None when any commit lacks its file lists."""
    paths: list[str] = []
    for index, entry in enumerate(commits):
        found = file_paths(entry, f"commits[{index}]")
        if found is None:
            return None
        paths.extend(found)
    return unique(paths)


def unique(paths: Iterable[str]) -> tuple[str, ...]:
    """The paths without repeats, in first-seen order."""
    return tuple(dict.fromkeys(paths))


def unbuilt_without_repository(event: str) -> PingWithoutRepository:
    """For ``repository_name``: an event kind we do not build that names no repository."""
    return PingWithoutRepository(f"event {event!r} is not built (and it names no repository)")


def ignored(delivery: str, reason: str) -> Delivery:
    return Delivery(delivery_id=delivery, ignored=reason)
