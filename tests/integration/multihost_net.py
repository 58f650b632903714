"""The network of the multi-host test: a Linux bridge of the test's own in the root namespace, on
a private /24 that nothing on this machine uses, and one network namespace per "host", joined to
the bridge by a veth pair, with a host name of its own for what runs in it.

Everything is created by the test and deleted by :meth:`Network.remove`, also when a step of the
creation failed. Names are unique per test session (a random id): ``ab-<id>-h1`` for a namespace,
``ab<id>br`` for the bridge, ``ab<id>h1`` for a host's veth end on the bridge (interface names
have at most 15 bytes). Traffic stays on the test's own addresses: the hosts reach the services
on the bridge address (``.1``) over their veth, as over a network.

A process runs "on a host" through :func:`on_host`: ``nsenter`` into the host's network
namespace, then ``unshare`` a UTS namespace (the host name) and a mount namespace (the host's own
``/etc/hosts``, naming the host itself). ``ip netns exec`` is not used: it remounts ``/sys``,
which hides the cgroup mounts dockerd needs.

The services are named by the bridge address everywhere, the registry too (``10.217.N.1:PORT``,
plain HTTP): the workers and the web process list it in ``AUTOBUILD_INSECURE_REGISTRIES`` and each
host's dockerd has it as ``--insecure-registry``, as a registry on a trusted LAN is set up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

PREFIX = "10.217"  # the private /16 the test's /24 is chosen from
OCTETS = range(16, 240)
_IN_HOST = 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"'


class NetworkError(Exception):
    """A namespace, link or address of the test could not be made."""


def ip(*args: str) -> str:
    """``ip ARGS``; raises NetworkError with ip's own message when it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def skip_unless_namespaces_work() -> None:
    """Skip (with the reason) where network namespaces cannot be made: not root, no ``ip``,
    ``nsenter`` or ``unshare``."""
    if os.geteuid() != 0:
        pytest.skip("the multi-host test makes network namespaces: it needs root")
    missing = [tool for tool in ("ip", "nsenter", "unshare") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the multi-host test needs {', '.join(missing)} (iproute2, util-linux)")


@dataclass(frozen=True)
class Subnet:
    """``10.217.<octet>.0/24``: the test's address is ``.1``, host n has ``.(10 + n)``."""

    octet: int

    @property
    def gateway(self) -> str:
        return f"{PREFIX}.{self.octet}.1"

    def address(self, number: int) -> str:
        return f"{PREFIX}.{self.octet}.{10 + number}"


def _subnet_in_use(octet: int) -> bool:
    needle = f"{PREFIX}.{octet}."
    return needle in ip("-4", "-o", "addr", "show") or needle in ip("-4", "route", "show")


@contextlib.contextmanager
def claim_subnet() -> Iterator[Subnet]:
    """A /24 that no address or route of this machine is in, held (flock) for this session: two
    test sessions at once never pick the same one."""
    octets = list(OCTETS)
    random.shuffle(octets)
    for octet in octets:
        lock = Path(tempfile.gettempdir()) / f"autobuild-multihost-{PREFIX}.{octet}.lock"
        handle: IO[str] = open(lock, "a")  # noqa: SIM115 (closed below)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            if _subnet_in_use(octet):
                continue
            yield Subnet(octet)
            return
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
    raise NetworkError(f"every /24 of {PREFIX}.{OCTETS.start}-{OCTETS.stop - 1} is in use")


@dataclass(frozen=True)
class HostNet:
    """One host's place on the network: its namespace, host name, address, veth end on the
    bridge, its /etc/hosts, and the bridge address it reaches the services at."""

    number: int
    netns: str
    hostname: str
    address: str
    veth: str
    hosts_file: Path
    gateway: str


def on_host(host: HostNet, argv: Sequence[str]) -> list[str]:
    """``argv`` run on ``host``: in its network namespace, with its host name and /etc/hosts.
    Every step execs the next one, so the process started is ``argv``'s own (its PID is the one
    to signal)."""
    return [
        "nsenter", f"--net=/run/netns/{host.netns}",
        "unshare", "--uts", "--mount",
        "sh", "-c", _IN_HOST, "sh", str(host.hosts_file), host.hostname,
        *argv,
    ]  # fmt: skip


class Network:
    """The bridge, its address, and the hosts' namespaces and veths; :meth:`remove` deletes all
    of it (and ends every process still in the namespaces: they were all started by the test)."""

    def __init__(self, subnet: Subnet, root: Path) -> None:
        self.subnet = subnet
        self.root = root
        self.id = uuid.uuid4().hex[:6]
        self.bridge = f"ab{self.id}br"
        self.hosts: list[HostNet] = []
        self._links: list[str] = []
        self._namespaces: list[str] = []

    def create(self) -> Network:
        ip("link", "add", self.bridge, "type", "bridge")
        self._links.append(self.bridge)
        ip("addr", "add", f"{self.subnet.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_host(self) -> HostNet:
        number = len(self.hosts) + 1
        netns, veth = f"ab-{self.id}-h{number}", f"ab{self.id}h{number}"
        ip("netns", "add", netns)
        self._namespaces.append(netns)
        ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}n", "netns", netns)
        self._links.append(veth)
        ip("link", "set", veth, "master", self.bridge)
        ip("link", "set", veth, "up")
        address = self.subnet.address(number)
        ip("-n", netns, "link", "set", f"{veth}n", "name", "eth0")
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "route", "add", "default", "via", self.subnet.gateway)
        hostname = f"host{number}"
        hosts_file = self.root / f"hosts-{number}"
        hosts_file.write_text(f"{address}\t{hostname}\n")
        host = HostNet(number, netns, hostname, address, veth, hosts_file, self.subnet.gateway)
        self.hosts.append(host)
        return host

    def set_link(self, host: HostNet, up: bool) -> None:
        """Connect (``up``) or cut ``host``'s veth end on the bridge."""
        ip("link", "set", host.veth, "up" if up else "down")

    def pids(self, host: HostNet) -> list[int]:
        """The processes in ``host``'s network namespace."""
        try:
            return [int(pid) for pid in ip("netns", "pids", host.netns).split()]
        except NetworkError:
            return []

    def remove(self) -> None:
        """End what is left in the namespaces (by PID), delete namespaces, veths and bridge."""
        for netns in self._namespaces:
            with contextlib.suppress(NetworkError):
                for pid in ip("netns", "pids", netns).split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for netns in reversed(self._namespaces):
            with contextlib.suppress(NetworkError):
                ip("netns", "delete", netns)
        for link in reversed(self._links):
            with contextlib.suppress(NetworkError):
                ip("link", "delete", link)
        self._namespaces.clear()
        self._links.clear()
