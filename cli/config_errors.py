"""Loading the configuration at process start: a broken one stops the process with its problems."""

from __future__ import annotations

import sys

from buildrules.model import Config
from core.secretcheck import short_secrets
from core.settings import Settings


class ConfigStartupError(SystemExit):
    pass


def load_or_exit(settings: Settings) -> Config:
    """The configuration, or exit 1 after printing one ``FILE:LINE: message`` line per problem,
    or one line per secret shorter than 20 characters (:mod:`core.secretcheck`)."""
    from buildrules.loader import ConfigError, load

    try:
        config: Config = load(settings.config_path)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        raise ConfigStartupError(1) from None
    short = short_secrets(settings, config)
    for problem in short:
        print(f"autobuild: {problem}", file=sys.stderr)
    if short:
        raise ConfigStartupError(1)
    return config
