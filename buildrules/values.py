"""Checks and normal forms for single configuration values (images, URLs, durations, paths).

Each function either returns the normal form or raises ValueError with a message for a person.
Messages never repeat a value that may be a secret (a clone URL's password, a misplaced token).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH_COMPONENT_RE = re.compile(_PATH_COMPONENT)
_DOMAIN_RE = re.compile(
    r"(?:localhost|(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
    r"(?:\.(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*)(?::[0-9]{1,5})?"
)
MAX_IMAGE_LENGTH = 255
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # RUN --mount=type=secret,id=
CLONE_URL_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE_RE = re.compile(r"(?:(?P<user>[^@/\s]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s]+)")
_DURATION_RE = re.compile(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?", re.IGNORECASE)
_MEMORY_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_MEMORY_BYTES = 6 * 1024**2  # Docker refuses less
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


def _looks_like_domain(component: str) -> bool:
    return "." in component or ":" in component or component.lower() == "localhost"


def check_image(image: str) -> str:
    """A repository name as the distribution spec allows it (lowercase, no tag, no digest)."""
    if not image:
        raise ValueError("image is empty")
    if any(c.isspace() for c in image):
        raise ValueError(f"image {image!r} contains whitespace")
    if "@" in image:
        raise ValueError(
            f"image {image!r} has a digest; write the repository only, tags come from docker_tag"
        )
    components = image.split("/")
    has_domain = len(components) > 1 and _looks_like_domain(components[0])
    path = components[1:] if has_domain else components
    if ":" in path[-1]:
        bare = image.rsplit(":", 1)[0]
        raise ValueError(
            f"image {image!r} has a tag; write {bare!r}, the tags come from docker_tag"
        )
    if image != image.lower():
        raise ValueError(f"image names must be lowercase: write {image.lower()!r}")
    if has_domain and not _DOMAIN_RE.fullmatch(components[0]):
        raise ValueError(f"image {image!r}: {components[0]!r} is not a valid registry host")
    for component in path:
        if not _PATH_COMPONENT_RE.fullmatch(component):
            raise ValueError(
                f"image {image!r}: {component!r} is not a valid repository name component "
                "(lowercase letters and digits, separated by '.', '_', '__' or '-')"
            )
    if len(image) > MAX_IMAGE_LENGTH:
        raise ValueError(f"image {image!r} is longer than {MAX_IMAGE_LENGTH} characters")
    return image


def check_registry_host(host: str) -> str:
    """A registry host (``host`` or ``host:port``), lowercased; Docker Hub's aliases → docker.io."""
    text = host.strip().lower()
    if "://" in text:
        raise ValueError(f"registry host {host!r}: write the host only, without the scheme")
    if "/" in text or not _DOMAIN_RE.fullmatch(text):
        raise ValueError(f"{host!r} is not a registry host (like registry.example.com:5000)")
    return "docker.io" if text in DOCKER_HUB_ALIASES else text


def check_env_name(value: str, key: str) -> str:
    """The name of an environment variable; the message never repeats a value that is not one."""
    if not ENV_NAME_RE.fullmatch(value):
        raise ValueError(
            f"{key} must name an environment variable (letters, digits and '_', like "
            "MY_WEBHOOK_SECRET), not hold the secret itself"
        )
    return value


def check_clone_url(url: str) -> str:
    """A clone URL git can use safely: no credentials, no remote helpers, no option injection."""
    if not url:
        raise ValueError("clone_url is empty")
    if url.startswith("-"):
        raise ValueError("clone_url must not start with '-' (git would read it as an option)")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("clone_url must not contain whitespace or control characters")
    if "::" in url.split("/", 1)[0] or url.lower().startswith("ext:"):
        raise ValueError("clone_url must not use a git remote helper ('ext::', 'fd::' ...)")
    if "://" in url:
        return _check_scheme_url(url)
    scp = _SCP_LIKE_RE.fullmatch(url)
    if scp is not None and not scp.group("path").startswith("//"):
        if scp.group("user") and ":" in scp.group("user"):
            raise ValueError(_CREDENTIALS_MESSAGE)
        return url
    raise ValueError(
        "clone_url must be a URL (https://, http://, ssh://, git://, file://) or git@host:path; "
        "write a local repository as file:///path/to/repo"
    )


_CREDENTIALS_MESSAGE = (
    "clone_url must not contain credentials (user:password@ or a token); give the worker "
    "access through an SSH key or a git credential helper instead"
)


def _check_scheme_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("clone_url is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in CLONE_URL_SCHEMES:
        raise ValueError(
            f"clone_url scheme {parts.scheme!r} is not allowed; use one of "
            + ", ".join(CLONE_URL_SCHEMES)
        )
    if parts.password is not None:
        raise ValueError(_CREDENTIALS_MESSAGE)
    if "?" in url or "#" in url:  # a token in a query (?private_token=...) is a credential too
        raise ValueError(
            "clone_url must not have a query string or fragment (a token there is a credential); "
            "give the worker access through an SSH key or a git credential helper instead"
        )
    if scheme in ("http", "https") and parts.username is not None:
        raise ValueError(_CREDENTIALS_MESSAGE)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError("clone_url file:// URLs must look like file:///path/to/repo")
    elif not parts.hostname:
        raise ValueError(f"clone_url has no host after {parts.scheme}://")
    return url


def parse_duration(value: int | str, key: str) -> int:
    """Seconds from an integer or a string like ``"90m"``, ``"2h"``, ``"1h30m"``, ``"45s"``."""
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip()
        found = _DURATION_RE.fullmatch(text)
        if text.isdigit():
            seconds = int(text)
        elif text and found and any(found.groups()):
            hours, minutes, secs = (int(g or 0) for g in found.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        else:
            raise ValueError(
                f'{key} must be seconds or a duration like "90m", "2h" or "1h30m", not {value!r}'
            )
    if seconds <= 0:
        raise ValueError(f"{key} must be more than zero seconds")
    return seconds


def parse_memory(value: int | str) -> str:
    """A memory limit in Docker's form (``"2g"``, ``"512m"``, bytes); at least 6 MiB."""
    text = str(value).strip()
    found = _MEMORY_RE.fullmatch(text)
    if found is None:
        raise ValueError(f'memory must be like "512m" or "2g", not {value!r}')
    size = float(found.group(1)) * _MEMORY_UNITS[found.group(2).lower()]
    if size < MIN_MEMORY_BYTES:
        raise ValueError("memory must be at least 6m (Docker refuses less)")
    return text.lower().replace(" ", "")


def memory_bytes(value: str) -> int:
    """Bytes in a memory limit that :func:`parse_memory` accepted."""
    found = _MEMORY_RE.fullmatch(value.strip())
    if found is None:
        raise ValueError(f"not a memory size: {value!r}")
    return int(float(found.group(1)) * _MEMORY_UNITS[found.group(2).lower()])


def normalize_context(value: str) -> str:
    """A build context path in the repository: ``/`` or ``/a/b``; ``..`` is refused."""
    parts = [p for p in value.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"context {value!r} must stay inside the repository (no '..')")
    return "/" + "/".join(parts)


def normalize_dockerfile(value: str) -> str:
    """A Dockerfile path relative to the context: ``Dockerfile`` or ``docker/app.Dockerfile``."""
    text = value.strip()
    if not text:
        raise ValueError("dockerfile is empty")
    if text.startswith("/"):
        raise ValueError(
            f"dockerfile {value!r} is relative to the context: drop the leading '/' "
            "(or set context to the directory and dockerfile to the file name)"
        )
    if text.endswith("/"):
        raise ValueError(f"dockerfile {value!r} names a directory, not a file")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"dockerfile {value!r} must be inside the context (no '..')")
    return "/".join(parts)
