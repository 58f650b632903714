"""The minimum length of the secrets that guard the web: webhook secrets, trigger tokens and the
admin token. A short one falls to guessing (and masking it would hide ordinary words), so the web,
the worker, the notifier and ``autobuild check-config`` refuse to start with one."""

from __future__ import annotations

from buildrules.model import Config
from core.settings import Settings

MIN_SECRET_CHARS = 20


def short_secrets(settings: Settings, config: Config) -> list[str]:
    """One sentence per secret that is set but shorter than :data:`MIN_SECRET_CHARS`, naming its
    variable (never its value)."""
    found: dict[str, str] = {}
    if settings.admin_token and len(settings.admin_token) < MIN_SECRET_CHARS:
        found["AUTOBUILD_ADMIN_TOKEN"] = "the admin token"
    for repository in config.repositories:
        where = f"{repository.provider}/{repository.name}"
        for name, what in (
            (repository.webhook_secret_env, "webhook secret"),
            (repository.trigger_token_env, "trigger token"),
        ):
            value = settings.secret(name)
            if name and value and len(value) < MIN_SECRET_CHARS:
                found.setdefault(name, f"the {what} of {where}")
    return [
        f"{name} ({what}) is shorter than {MIN_SECRET_CHARS} characters: set a longer random"
        " value (for example `openssl rand -hex 20`)"
        for name, what in found.items()
    ]
