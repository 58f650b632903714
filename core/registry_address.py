"""Where a registry answers: Docker Hub's API host, and plain HTTP for loopback registries (Docker
treats those as insecure), HTTPS for every other."""

from __future__ import annotations

import ipaddress

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


def is_loopback(host: str) -> bool:
    """``127.0.0.1:5000``, ``localhost``, ``[::1]:5000``: spoken to over plain HTTP."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_base_url(host: str) -> str:
    """``http://127.0.0.1:5000``, ``https://registry.example.com``, Docker Hub's API host."""
    if host == DOCKER_HUB:
        return f"https://{DOCKER_HUB_API}"
    return f"{'http' if is_loopback(host) else 'https'}://{host}"
