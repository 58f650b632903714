"""Autotest's compose files: finding them beside the Dockerfile and making them safe to run.

Docker Hub's rule: every ``*.test.yml`` or ``*-test.yml`` in the Dockerfile's folder (glob
order) is a test; its ``sut`` service, and what ``sut`` depends on, is started, and the test
passes when ``sut`` exits 0. A service with ``build: .`` runs the image this build just made.

The file comes from the repository (perhaps from a pull request), so it is hostile: only what a
test needs is accepted. Refused with a sentence naming file and key: host bind mounts,
privileged mode, added capabilities, devices, host namespaces (``network_mode``, ``pid``,
``ipc``), published ports, external networks or volumes, volume or network drivers, env files,
builds of anything but ``.``, labels (they could claim another compose project), and every
other key not listed below. Under the repository's ``network: none`` every network of the test
is made internal.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import yaml

from worker.errors import UserBuildError

MAX_FILE_BYTES = 256 * 1024
SUT = "sut"
TEST_PATTERNS = ("*.test.yml", "*-test.yml")
TOP_KEYS = frozenset({"version", "services", "volumes", "networks"})
SERVICE_KEYS = frozenset(
    {
        "image",
        "build",
        "command",
        "entrypoint",
        "environment",
        "depends_on",
        "working_dir",
        "user",
        "tmpfs",
        "volumes",
        "networks",
        "expose",
        "links",
        "healthcheck",
        "stop_signal",
        "stop_grace_period",
        "init",
        "read_only",
        "hostname",
        "tty",
        "stdin_open",
        "shm_size",
    }
)
NETWORK_KEYS = frozenset({"driver", "internal"})
VOLUME_KEYS: frozenset[str] = frozenset()
SAME_CONTEXT = (".", "./")


class ComposeFileError(UserBuildError):
    """A test file Autobuild will not run; the message names the file and the key."""


def find_test_files(folder: Path) -> tuple[Path, ...]:
    """The test files in ``folder`` (the Dockerfile's), sorted by name; links are refused."""
    if not folder.is_dir():
        return ()
    found = sorted(
        path
        for path in folder.iterdir()
        if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in TEST_PATTERNS)
    )
    for path in found:
        if path.is_symlink() or not path.is_file():
            raise ComposeFileError(f"Test file {path.name} is not a regular file (a link?)")
    return tuple(found)


def safe_compose(path: Path, image: str, *, internal: bool = False) -> str:
    """The test file's text, checked and with ``build: .`` replaced by ``image: <image>``.
    ``internal`` (the repository's ``network: none``): every network of the test, the default
    one included, is internal: the services reach each other and nothing else."""
    name = path.name
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ComposeFileError(f"Test file {name} is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ComposeFileError(f"Test file {name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ComposeFileError(f"Test file {name} must be a mapping with 'services'")
    _only(data, TOP_KEYS, name, "the file")
    services = data.get("services")
    if not isinstance(services, dict) or SUT not in services:
        raise ComposeFileError(f"Test file {name} has no service '{SUT}' under 'services'")
    for service, spec in services.items():
        services[service] = _service(spec, image, name, str(service))
    for key, allowed in (("networks", NETWORK_KEYS), ("volumes", VOLUME_KEYS)):
        _declared(data.get(key), allowed, name, key)
    if internal:
        networks = data.get("networks") or {}
        data["networks"] = {
            **{n: {**(spec or {}), "internal": True} for n, spec in networks.items()},
            "default": {**(networks.get("default") or {}), "internal": True},
        }
    return yaml.safe_dump(data, sort_keys=False)


def _only(mapping: dict[Any, Any], allowed: frozenset[str], name: str, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ComposeFileError(
                f"Test file {name}: {where} sets {key!r}, which Autobuild does not allow in tests"
            )


def _service(spec: object, image: str, name: str, service: str) -> dict[str, Any]:
    where = f"service {service!r}"
    if not isinstance(spec, dict):
        raise ComposeFileError(f"Test file {name}: {where} must be a mapping")
    _only(spec, SERVICE_KEYS, name, where)
    if "build" in spec:
        build = spec.pop("build")
        context = build.get("context") if isinstance(build, dict) else build
        extra = set(build) - {"context"} if isinstance(build, dict) else set()
        if context not in SAME_CONTEXT or extra:
            raise ComposeFileError(
                f"Test file {name}: {where} builds {context!r}; a test may only use "
                "'build: .', the image this build made"
            )
        spec["image"] = image
    if not isinstance(spec.get("image"), str):
        raise ComposeFileError(f"Test file {name}: {where} names no image (or 'build: .')")
    for entry in _volume_entries(spec.get("volumes"), name, where):
        _check_volume(entry, name, where)
    return spec


def _volume_entries(value: object, name: str, where: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ComposeFileError(f"Test file {name}: {where} volumes must be a list")
    return value


def _check_volume(entry: object, name: str, where: str) -> None:
    if isinstance(entry, dict):
        kind = entry.get("type", "volume")
        source = str(entry.get("source", ""))
        if kind not in ("volume", "tmpfs") or (kind == "volume" and _host_path(source)):
            raise ComposeFileError(
                f"Test file {name}: {where} mounts {source or kind!r}; only named volumes "
                "and tmpfs are allowed in tests"
            )
        return
    if not isinstance(entry, str):
        raise ComposeFileError(f"Test file {name}: {where} has a volume that is not text")
    parts = entry.split(":")
    if len(parts) > 1 and _host_path(parts[0]):
        raise ComposeFileError(
            f"Test file {name}: {where} mounts the host path {parts[0]!r}; only named "
            "volumes are allowed in tests"
        )


def _host_path(source: str) -> bool:
    return source.startswith(("/", ".", "~", "$")) or "/" in source or "\\" in source


def _declared(value: object, allowed: frozenset[str], name: str, key: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ComposeFileError(f"Test file {name}: top-level {key} must be a mapping")
    for item, spec in value.items():
        if spec is None:
            continue
        if not isinstance(spec, dict):
            raise ComposeFileError(f"Test file {name}: {key} {item!r} must be a mapping")
        _only(spec, allowed, name, f"{key[:-1]} {item!r}")
        if spec.get("driver", "bridge") != "bridge":
            raise ComposeFileError(f"Test file {name}: {key[:-1]} {item!r} must use 'bridge'")
