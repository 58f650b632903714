"""One module per git host; each verifies a delivery and turns it into host-independent push events.

The webhook view looks the module up by the provider in the URL (``/webhooks/<provider>``) and calls
``repository_name`` (to find the configured repository and its secret), ``verify`` (over the raw
body, before anything else is trusted) and ``parse`` (to a :class:`core.events.Delivery`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from app.hosts import bitbucket, git, gitea, github, gitlab
from app.hosts.base import (
    HeaderMap,
    HostError,
    HostModule,
    PayloadError,
    PingWithoutRepository,
    SignatureError,
)

HOSTS: Mapping[str, HostModule] = MappingProxyType(
    {
        "github": github,
        "bitbucket": bitbucket,
        "gitlab": gitlab,
        "gitea": gitea,
        "git": git,
    }
)


def get_host(provider: str) -> HostModule | None:
    """The module for ``provider`` (as in the URL and the configuration), or None."""
    return HOSTS.get(provider)


__all__ = [
    "HOSTS",
    "HeaderMap",
    "HostError",
    "HostModule",
    "PayloadError",
    "PingWithoutRepository",
    "SignatureError",
    "get_host",
]
