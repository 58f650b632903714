"""Autotest compose files: found by name, `build: .` replaced, hostile keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from worker.composefile import ComposeFileError, find_test_files, safe_compose

IMAGE = "sha256:" + "a" * 64


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_test_files_are_the_hub_patterns_in_name_order(tmp_path):
    for name in ("b.test.yml", "docker-compose.test.yml", "a-test.yml", "test.yml", "x.yml"):
        write(tmp_path, name, "services: {}\n")
    assert [p.name for p in find_test_files(tmp_path)] == [
        "a-test.yml",
        "b.test.yml",
        "docker-compose.test.yml",
    ]


def test_a_linked_test_file_is_refused(tmp_path):
    (tmp_path / "docker-compose.test.yml").symlink_to("/etc/passwd")
    with pytest.raises(ComposeFileError, match="not a regular file"):
        find_test_files(tmp_path)


def test_build_dot_becomes_the_built_image_and_the_rest_is_kept(tmp_path):
    path = write(
        tmp_path,
        "docker-compose.test.yml",
        "version: '2.4'\nservices:\n  sut:\n    build: .\n    command: ./run-tests\n"
        "    depends_on: [db]\n  db:\n    build: {context: ./}\n    volumes: [data:/var/lib]\n"
        "volumes:\n  data: {}\n",
    )
    data = yaml.safe_load(safe_compose(path, IMAGE))
    assert data["services"]["sut"] == {
        "command": "./run-tests",
        "depends_on": ["db"],
        "image": IMAGE,
    }
    assert data["services"]["db"]["image"] == IMAGE


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("privileged: true", "'privileged'"),
        ("network_mode: host", "'network_mode'"),
        ("pid: host", "'pid'"),
        ("cap_add: [SYS_ADMIN]", "'cap_add'"),
        ("ports: ['80:80']", "'ports'"),
        ("env_file: /etc/shadow", "'env_file'"),
        ("volumes: ['/:/host']", "host path '/'"),
        ("volumes: ['./x:/x']", "host path './x'"),
        ("volumes: [{type: bind, source: /, target: /h}]", "only named volumes"),
        ("build: ../other", "a test may only use 'build: .'"),
        ("build: {context: ., dockerfile: Other}", "a test may only use 'build: .'"),
    ],
)
def test_hostile_service_keys_are_refused_naming_file_and_key(tmp_path, service, message):
    path = write(tmp_path, "app.test.yml", f"services:\n  sut:\n    image: x\n    {service}\n")
    with pytest.raises(ComposeFileError, match=r"app\.test\.yml") as raised:
        safe_compose(path, IMAGE)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "top",
    [
        "networks: {n: {external: true}}",
        "networks: {n: {driver: macvlan}}",
        "volumes: {v: {driver_opts: {device: /}}}",
        "secrets: {s: {file: /etc/shadow}}",
    ],
)
def test_external_or_driven_networks_and_volumes_are_refused(tmp_path, top):
    path = write(tmp_path, "docker-compose.test.yml", f"services:\n  sut:\n    build: .\n{top}\n")
    with pytest.raises(ComposeFileError):
        safe_compose(path, IMAGE)


def test_a_file_without_sut_is_refused(tmp_path):
    path = write(tmp_path, "docker-compose.test.yml", "services:\n  web:\n    build: .\n")
    with pytest.raises(ComposeFileError, match="no service 'sut'"):
        safe_compose(path, IMAGE)


def test_network_none_makes_every_test_network_internal(tmp_path):
    path = write(
        tmp_path,
        "docker-compose.test.yml",
        "services:\n  sut:\n    build: .\n    networks: [back]\nnetworks:\n  back: {}\n",
    )
    data = yaml.safe_load(safe_compose(path, IMAGE, internal=True))
    assert data["networks"] == {"back": {"internal": True}, "default": {"internal": True}}
    assert yaml.safe_load(safe_compose(path, IMAGE))["networks"] == {"back": {}}


def test_labels_are_refused_so_no_service_claims_another_project(tmp_path):
    text = "services:\n  sut:\n    build: .\n    labels: {com.docker.compose.project: x}\n"
    path = write(tmp_path, "docker-compose.test.yml", text)
    with pytest.raises(ComposeFileError, match="'labels'"):
        safe_compose(path, IMAGE)
