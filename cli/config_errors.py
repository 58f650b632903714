"""Loading the configuration at process start: a broken one stops the process with its problems."""

from __future__ import annotations

import sys

from buildrules.model import Config
from core.settings import Settings


class ConfigStartupError(SystemExit):
    pass


def load_or_exit(settings: Settings) -> Config:
    """The configuration, or exit 1 after printing one ``FILE:LINE: message`` line per problem."""
    from buildrules.loader import ConfigError, load

    try:
        config: Config = load(settings.config_path)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        raise ConfigStartupError(1) from None
    return config
