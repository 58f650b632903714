"""The registry, as a command run on an operator's machine reaches it: with the credentials the
configuration names for its host when a configuration is at hand, else anonymously."""

from __future__ import annotations

from buildrules.loader import ConfigError, load
from buildrules.model import Config
from core.registry_api import Credentials, RegistryAPI, configured_credentials
from core.settings import Settings


def load_config(settings: Settings) -> Config | None:
    try:
        return load(settings.config_path)
    except (ConfigError, OSError):
        return None


def open_registry(host: str, settings: Settings | None = None) -> RegistryAPI:
    settings = settings or Settings.from_env()
    config = load_config(settings)
    credentials: Credentials | None = None
    if config is not None:
        credentials = configured_credentials(config, settings, host)
    return RegistryAPI(host, credentials, insecure_registries=settings.insecure_registries)
