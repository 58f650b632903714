"""Plain git servers (``POST /webhooks/git``): our own push format, sent by ``autobuild git-hook``.

Body (JSON, UTF-8), signed with ``X-Autobuild-Signature: sha256=<hex HMAC-SHA256 of the body>``::

    {
      "repository": "team/app",                 # the configured name (provider: git)
      "delivery_id": "5b0c...-uuid",            # optional; else derived from the body's sha256
      "timestamp": 1796380000,                  # when the hook sent it (Unix seconds); a
                                                #   document older than 5 minutes is refused
      "pushes": [                               # one entry per updated ref
        {
          "ref": "refs/heads/main",             # full ref name
          "before": "<sha>" | null,             # null or all zeros: a new ref
          "after": "<sha>",                     # the new value of the ref; all zeros: deleted
          "commit": "<sha>",                    # optional: the commit ``after`` peels to
                                                #   (differs for annotated tags); default after
          "changed_files": ["path", ...] | null,  # null: unknown
          "head_message": "..."                 # optional: the commit's message
        }
      ]
    }
"""

from __future__ import annotations

import time
from typing import Any

from app.hosts.base import (
    HeaderMap,
    PayloadError,
    body_delivery_id,
    check_delivery_id,
    check_prefixed_signature,
    check_repository_name,
    check_sha,
    get_list,
    get_str,
    ignored,
    load_json_object,
    not_built_ref,
    objects,
    opt_list,
    opt_str,
    previous_sha,
    sha_field,
    split_ref,
    text_field,
    unique,
)
from core.events import Delivery, PushEvent
from core.gitnames import is_zero_id

PROVIDER = "git"
SIGNATURE_HEADER = "X-Autobuild-Signature"
# A signed document is accepted this long after it was sent (and this far ahead, for clock
# skew): a captured document cannot be replayed later, even after its delivery id's claim ends.
MAX_AGE_SECONDS = 300


def _repository(data: dict[str, Any]) -> str:
    return check_repository_name(get_str(data, "repository", "repository"), "repository")


def repository_name(headers: HeaderMap, body: bytes) -> str:
    return _repository(load_json_object(body))


def verify(headers: HeaderMap, body: bytes, secret: str) -> None:
    check_prefixed_signature(headers, SIGNATURE_HEADER, secret, body)


def check_timestamp(data: dict[str, Any], now: float) -> None:
    """Refuse a document sent more than :data:`MAX_AGE_SECONDS` before ``now`` (or after)."""
    sent = data.get("timestamp")
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        raise PayloadError(
            "The document has no 'timestamp' (Unix seconds when it was sent), so a replay "
            "cannot be told apart; update `autobuild git-hook` on the git server."
        )
    age = now - sent
    if age > MAX_AGE_SECONDS:
        raise PayloadError(
            f"The document was sent {int(age)} s ago, more than {MAX_AGE_SECONDS} s: a late "
            "or replayed push is refused (push again, or check the git server's clock)."
        )
    if age < -MAX_AGE_SECONDS:
        raise PayloadError(
            f"The document's timestamp is {int(-age)} s in the future; check the git "
            "server's clock."
        )


def _changed_files(push: dict[str, Any], where: str) -> tuple[str, ...] | None:
    listed = opt_list(push, "changed_files", f"{where}.changed_files")
    if listed is None:
        return None
    for index, item in enumerate(listed):
        if not isinstance(item, str) or not item or "\x00" in item:
            raise PayloadError(
                f"The payload's '{where}.changed_files[{index}]' is not a file path."
            )
    return unique(listed)


def parse(headers: HeaderMap, body: bytes) -> Delivery:
    data = load_json_object(body)
    check_timestamp(data, time.time())
    given = opt_str(data, "delivery_id", "delivery_id")
    delivery = check_delivery_id(given, "delivery_id") if given else body_delivery_id(body)
    repository = _repository(data)
    pushes = objects(get_list(data, "pushes", "pushes"), "pushes")
    events: list[PushEvent] = []
    skipped: list[str] = []
    for index, push in enumerate(pushes):
        where = f"pushes[{index}]"
        ref = get_str(push, "ref", f"{where}.ref")
        split = split_ref(ref, f"{where}.ref")
        after = sha_field(push, "after", f"{where}.after")
        if is_zero_id(after):
            skipped.append(f"{ref} was deleted")
            continue
        if split is None:
            skipped.append(not_built_ref(ref))
            continue
        ref_type, ref_name = split
        before = previous_sha(opt_str(push, "before", f"{where}.before"), f"{where}.before")
        peeled = opt_str(push, "commit", f"{where}.commit")
        changed = _changed_files(push, where)
        events.append(
            PushEvent(
                provider=PROVIDER,
                repository=repository,
                ref_type=ref_type,
                ref_name=ref_name,
                commit=check_sha(peeled, f"{where}.commit") if peeled else after,
                before=before,
                delivery_id=delivery,
                changed_files=None if before is None else changed,
                head_message=text_field(push.get("head_message"), f"{where}.head_message"),
            )
        )
    if events:
        return Delivery(delivery_id=delivery, events=tuple(events))
    if not skipped:
        return ignored(delivery, "the push carries no ref updates")
    return ignored(delivery, "nothing to build: " + "; ".join(skipped))
