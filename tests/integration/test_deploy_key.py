"""ssh_key_env end to end: a real sshd on loopback that knows only the deploy key, git fetching
the commit and a private submodule through it, strict host key checking, and no key left behind."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.deploykey import DeployKey
from core.events import RefType
from core.remote import RemoteError, list_remote_refs
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
START_SECONDS = 10.0


@dataclass(frozen=True)
class SshServer:
    port: int
    known_hosts: Path  # a file naming the server's host key
    user: str
    client_key: str = field(repr=False)  # the deploy key (private, OpenSSH form)

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path.resolve()}"


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {process.stderr.read() if process.stderr else ''!r}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("sshd did not listen in time")


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not Path(SSHD).exists():
        pytest.skip("sshd is not installed (apt-get install openssh-server)")
    root = tmp_path_factory.mktemp("sshd")
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    port = _free_port()
    (root / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'host_key'}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
            ]
        )
        + "\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        host_key = (root / "host_key.pub").read_text().split()
        (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        yield SshServer(
            port, root / "known_hosts", getpass.getuser(), (root / "client_key").read_text()
        )
    finally:
        process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()


def dockerfile(base_image: str, *lines: str) -> str:
    bust = f"ENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}"
    return "\n".join([f"FROM {base_image}", bust, *lines]) + "\n"


def build(context, repository, commit):
    record = create_record(context.store, repository, commit)
    status = execute_build(context, record.id)
    return status, context.store.require(record.id)


def test_a_deploy_key_fetches_the_commit_and_a_private_submodule_over_ssh(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, ssh_server
):
    library = make_git_repo({"secret-lib.txt": "fetched-over-ssh\n"})
    app = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "COPY lib/secret-lib.txt /x", "RUN cat /x")}
    )
    (app.path / ".gitmodules").write_text(
        f'[submodule "lib"]\n\tpath = lib\n\turl = ../{library.path.name}\n'
    )
    app.git("add", ".gitmodules")
    app.git("update-index", "--add", "--cacheinfo", f"160000,{library.head()},lib")
    app.git("commit", "-q", "-m", "submodule")
    repository = make_repository(
        ssh_server.url(app.path),
        unique_image(registry_url, "deploykey"),
        submodules="true",
        ssh_key_env="APP_DEPLOY_KEY",
    )
    environ = {
        "APP_DEPLOY_KEY": ssh_server.client_key,
        "AUTOBUILD_SSH_KNOWN_HOSTS": str(ssh_server.known_hosts),
    }
    context = make_context(tmp_path, redis_url, clean_redis, [repository], environ=environ)

    status, record = build(context, repository, app.head())

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "fetched-over-ssh" in log
    assert "PRIVATE KEY" not in log
    assert not list(context.scratch_dir.glob("ssh-*"))  # the key file is gone


def test_a_key_the_server_does_not_know_is_refused(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, ssh_server
):
    _keygen(tmp_path / "other_key")
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    repository = make_repository(
        ssh_server.url(app.path), unique_image(registry_url), ssh_key_env="OTHER_KEY"
    )
    environ = {
        "OTHER_KEY": (tmp_path / "other_key").read_text(),
        "AUTOBUILD_SSH_KNOWN_HOSTS": str(ssh_server.known_hosts),
    }
    context = make_context(tmp_path, redis_url, clean_redis, [repository], environ=environ)

    status, record = build(context, repository, app.head())

    assert status == "error"
    assert record.error is not None and "Permission denied (publickey" in record.error


def test_an_unknown_host_key_fails_the_fetch_instead_of_being_trusted(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, ssh_server
):
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    repository = make_repository(
        ssh_server.url(app.path), unique_image(registry_url), ssh_key_env="APP_DEPLOY_KEY"
    )
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    environ = {"APP_DEPLOY_KEY": ssh_server.client_key, "AUTOBUILD_SSH_KNOWN_HOSTS": str(empty)}
    context = make_context(tmp_path, redis_url, clean_redis, [repository], environ=environ)

    status, record = build(context, repository, app.head())

    assert status == "error"
    assert record.error is not None and "Host key verification failed" in record.error
    assert empty.read_text() == ""  # nothing was added on first use
    assert not list(context.scratch_dir.glob("ssh-*"))


def test_an_unset_key_variable_fails_before_any_fetch(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, ssh_server
):
    app = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    repository = make_repository(
        ssh_server.url(app.path), unique_image(registry_url), ssh_key_env="APP_DEPLOY_KEY"
    )
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, app.head())

    assert status == "error"
    assert record.error == "ssh_key_env names APP_DEPLOY_KEY, which is not set on the worker."


def test_the_manual_triggers_ls_remote_uses_the_deploy_key_too(make_git_repo, ssh_server):
    app = make_git_repo({"README": "x\n"})
    app.tag("v1.0")
    url = ssh_server.url(app.path)
    key = DeployKey(ssh_server.client_key, ssh_server.known_hosts)

    refs = list_remote_refs(url, key=key)

    assert refs.commit(RefType.BRANCH, "master") == app.head()
    assert refs.names(RefType.TAG) == ["v1.0"]
    with pytest.raises(RemoteError, match="Host key verification failed"):
        list_remote_refs(url, key=DeployKey(ssh_server.client_key, Path(os.devnull)))
