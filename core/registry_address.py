"""Image references and where their registry answers: the registry host of a reference and the
path after it (Docker's rules, written here once), Docker Hub's API host, and plain HTTP for
loopback registries (Docker treats those as insecure) and for the ones listed in
``AUTOBUILD_INSECURE_REGISTRIES`` (``Settings.insecure_registries``, like dockerd's
``--insecure-registry``), HTTPS for every other."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


def registry_host_of(image: str) -> str:
    """The registry host of an image reference, Docker's way (no dot/colon → Docker Hub)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def image_path(image: str) -> str:
    """The repository part of an image reference, without the registry host
    (``127.0.0.1:5000/octo/app`` → ``octo/app``)."""
    host = registry_host_of(image)
    return image[len(host) + 1 :] if image.startswith(host + "/") else image


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


def plain_http(host: str, insecure_registries: Collection[str] = ()) -> bool:
    """Whether Autobuild speaks plain HTTP to registry ``host``: a loopback one, or one listed
    (``host[:port]`` exactly as image references name it) in ``insecure_registries``."""
    return is_loopback(host) or host.lower() in insecure_registries


def registry_base_url(host: str, insecure_registries: Collection[str] = ()) -> str:
    """``http://127.0.0.1:5000``, ``https://registry.example.com``, Docker Hub's API host;
    ``http://`` too for a host in ``insecure_registries`` (see :func:`plain_http`)."""
    if host == DOCKER_HUB:
        return f"https://{DOCKER_HUB_API}"
    return f"{'http' if plain_http(host, insecure_registries) else 'https'}://{host}"
