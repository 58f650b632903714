"""Masking of secret values in text that will be stored or shown (logs, errors, API answers)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote, quote_plus

from core.settings import Settings

MASK = "******"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words (core.secretcheck wants 20)
# ``scheme://user[:password]@``, found from its ``://`` (a scheme character before it), never from
# the scheme's start: a pattern that starts a scheme at every letter is quadratic on long letter
# runs. Possessive: the characters that end each part are not in it, so giving back never helps.
# It starts with the literal ``://``, which the engine searches for quickly.
_URL_CREDENTIALS = re.compile(r"://(?<=[a-zA-Z0-9+.-]://)[^/@\s:]++(?::[^/@\s]*+)?@")


def secret_forms(secret: str) -> set[str]:
    """The raw, URL-encoded and base64 forms a secret can take in a log line."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    encoded = secret.encode()
    for prefix in (b"", b"x", b"xx"):  # base64 of the secret at every alignment
        b64 = base64.b64encode(prefix + encoded).decode()
        skip = {0: 0, 1: 2, 2: 3}[len(prefix)]
        core = b64[skip:].rstrip("=")
        # drop the last, partially determined character
        if len(core) > 4:
            forms.add(core[:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Masker:
    """Replaces every known secret, in any of its forms, and credentials in URLs."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                forms |= secret_forms(secret)
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def mask(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _URL_CREDENTIALS.sub(f"://{MASK}@", text)


class NamesSecrets(Protocol):
    """What names the secrets to mask: :class:`buildrules.model.Config` (by its ``*_env`` keys)."""

    def secret_env_names(self) -> tuple[str, ...]: ...


def masker_for(settings: Settings, config: NamesSecrets) -> Masker:
    """The masker of a process: every secret the configuration names, and the admin token."""
    return Masker(settings.secret_values(config.secret_env_names()))


class NamesBuildSecrets(Protocol):
    """What names the secrets a repository's builds could see: :class:`buildrules.model.Config`."""

    def build_secret_env_names(self, provider: str, name: str) -> tuple[str, ...]: ...


def build_masker_for(
    settings: Settings, config: NamesBuildSecrets, provider: str, repository: str
) -> Masker:
    """The masker of one build's log and error: only the secrets that build could have seen
    (its repository's, its registry's credentials), never another repository's nor the admin
    token. Build output is hostile: a secret masked in it is a guess confirmed."""
    names = config.build_secret_env_names(provider, repository)
    return Masker(value for value in map(settings.secret, names) if value)
