"""The fence before each push (worker/fence.py), on the real Redis, Docker daemon and registry:
an attempt whose build was taken over (queued again as the next attempt, its heartbeat lease held
by another token, its tag lock lost) or that cannot reach Redis never starts a push; one that
holds everything pushes. And a worker coming back never takes a newer attempt's heartbeat."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import docker.errors
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.build import BuildRecord, BuildStatus
from core.store import BuildStore, heartbeat_key, tag_lock_key
from tests.integration.control_helpers import free_port, wait_for
from tests.integration.worker_helpers import (
    create_record,
    make_repository,
    registry_digest,
    split_image,
    unique_image,
)
from worker.deadline import Deadline
from worker.docker_client import docker_factory
from worker.errors import BuildStoppedError
from worker.fence import Beat, FenceUnconfirmedError, Lease, LeaseLostError, beat
from worker.manifests import INDEX_TYPES
from worker.multiplatform import PlatformImage, PushTarget, push_index
from worker.push import PushResult, push_all, push_tag
from worker.registry import RegistryClient
from worker.watch import BuildWatcher

pytestmark = pytest.mark.integration

OTHER_ATTEMPT = "2:host-2:4242"  # the heartbeat token of attempt 2 on another worker


@dataclass
class Pushing:
    """A build at ``pushing`` (attempt 1) whose image is tagged locally, not yet pushed."""

    store: BuildStore
    record: BuildRecord
    image: str
    watcher: BuildWatcher


@pytest.fixture
def pushing(clean_redis, docker_api, base_image, registry_url) -> Iterator[Pushing]:
    image = unique_image(registry_url, "fence")
    store = BuildStore(clean_redis)
    record = create_record(store, make_repository("file:///nowhere", image), "a" * 40)
    for status in (BuildStatus.CLONING, BuildStatus.BUILDING, BuildStatus.PUSHING):
        record = store.transition(record.id, status, expect_attempt=1)
    docker_api.tag(base_image, image, tag="latest")
    watcher = BuildWatcher(clean_redis, store, record, Deadline(300), heartbeat_seconds=10)
    watcher.beat()  # the lease is this attempt's
    try:
        yield Pushing(store, record, image, watcher)
    finally:
        docker_api.remove_image(f"{image}:latest")


def push_fenced(
    docker_api, pushing: Pushing, watcher: BuildWatcher, *held: Lease
) -> tuple[PushResult | None, list[str]]:
    """Push ``latest`` as the push phase does: the fence just before it."""
    host, path = split_image(pushing.image)
    lines: list[str] = []
    with RegistryClient(host, None) as registry:
        result = push_all(
            docker_api,
            pushing.image,
            path,
            registry,
            ["latest"],
            None,
            Deadline(300),
            lines.append,
            before_tag=lambda reference: watcher.fence(f"pushing {reference}", held),
        )
    return result, lines


def test_a_push_after_the_build_was_queued_again_as_the_next_attempt_is_never_started(
    clean_redis, docker_api, pushing
):
    # Recovery took the build over (core.recovery) and attempt 2 beats on another worker.
    store, record = pushing.store, pushing.record
    store.transition(record.id, BuildStatus.QUEUED, expect_attempt=1, attempt=2)
    clean_redis.set(heartbeat_key(record.id), OTHER_ATTEMPT, ex=30)

    with pytest.raises(LeaseLostError) as stopped:
        push_fenced(docker_api, pushing, pushing.watcher)

    assert str(stopped.value) == (
        f"Did not start pushing {pushing.image}:latest: the build was queued again as attempt 2."
    )
    assert registry_digest(pushing.image, "latest") is None
    # Its next beat takes nothing back: the lease stays attempt 2's, and the attempt stops.
    pushing.watcher.beat()
    assert clean_redis.get(heartbeat_key(record.id)) == OTHER_ATTEMPT.encode()
    assert pushing.watcher.deadline.stopped


def test_a_heartbeat_lease_held_by_another_token_refuses_the_push_at_the_same_attempt(
    clean_redis, docker_api, pushing
):
    stranger = "1:another-host:99"
    clean_redis.set(heartbeat_key(pushing.record.id), stranger, ex=30)

    with pytest.raises(LeaseLostError, match="its heartbeat lease is held by '1:another-host:99'"):
        push_fenced(docker_api, pushing, pushing.watcher)

    assert registry_digest(pushing.image, "latest") is None
    assert beat(clean_redis, pushing.record.id, 1, pushing.watcher.token, 30) is Beat.TAKEN
    assert clean_redis.get(heartbeat_key(pushing.record.id)) == stranger.encode()


def test_an_expired_heartbeat_or_a_lost_tag_lock_refuses_the_push(clean_redis, docker_api, pushing):
    lock = Lease(tag_lock_key(pushing.image, "latest"), f"{pushing.record.id}:1")
    clean_redis.set(lock.key, "another-build:1", ex=30)
    with pytest.raises(LeaseLostError, match=r"it no longer holds .*tag-lock"):
        push_fenced(docker_api, pushing, pushing.watcher, lock)

    clean_redis.delete(heartbeat_key(pushing.record.id))
    with pytest.raises(LeaseLostError, match="its heartbeat lease has expired"):
        push_fenced(docker_api, pushing, pushing.watcher)
    assert registry_digest(pushing.image, "latest") is None


def test_a_redis_that_cannot_be_reached_is_not_a_yes(clean_redis, docker_api, pushing):
    nowhere = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    try:
        cut_off = BuildWatcher(
            nowhere, pushing.store, pushing.record, Deadline(300), heartbeat_seconds=10
        )
        with pytest.raises(FenceUnconfirmedError) as unconfirmed:
            push_fenced(docker_api, pushing, cut_off)
    finally:
        nowhere.close()
    message = unconfirmed.value.message
    assert message.startswith(f"Did not start pushing {pushing.image}:latest: Redis could not")
    assert "confirm that attempt 1 still holds the build" in message
    assert unconfirmed.value.retryable
    assert registry_digest(pushing.image, "latest") is None


def test_an_attempt_that_holds_its_build_and_its_tag_lock_pushes(clean_redis, docker_api, pushing):
    lock = Lease(tag_lock_key(pushing.image, "latest"), f"{pushing.record.id}:1")
    clean_redis.set(lock.key, lock.token, ex=30)

    result, lines = push_fenced(docker_api, pushing, pushing.watcher, lock)

    assert result is not None and result.tags == ("latest",)
    assert registry_digest(pushing.image, "latest") == result.digest
    assert f"Pushed {pushing.image}:latest as {result.digest}" in lines


def test_a_beat_takes_over_an_earlier_attempts_lease_but_never_a_later_one(clean_redis):
    store = BuildStore(clean_redis)
    record = create_record(
        store, make_repository("file:///nowhere", "127.0.0.1:5000/x/y"), "b" * 40
    )
    build_id = record.id
    store.transition(build_id, BuildStatus.QUEUED, attempt=2)
    key = heartbeat_key(build_id)

    clean_redis.set(key, "1:host-1:7", ex=30)  # attempt 1 has not let go yet
    assert beat(clean_redis, build_id, 2, "2:host-2:8", 30) is Beat.HELD
    assert clean_redis.get(key) == b"2:host-2:8"
    assert 0 < clean_redis.pttl(key) <= 30_000

    assert beat(clean_redis, build_id, 1, "1:host-1:7", 30) is Beat.MOVED_ON  # it came back
    assert beat(clean_redis, build_id, 2, "2:host-3:9", 30) is Beat.TAKEN
    assert clean_redis.get(key) == b"2:host-2:8"
    assert beat(clean_redis, "no-such-build", 1, "1:h:1", 30) is Beat.MOVED_ON


@pytest.fixture
def silent_redis() -> Iterator[redis.Redis]:
    """A connection to a port that accepts and never answers: a host whose network went down
    while it was connected (each command waits out its timeout)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    connection = redis.Redis(
        host="127.0.0.1",
        port=server.getsockname()[1],
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),  # one wait per command, as a test can afford
    )
    try:
        yield connection
    finally:
        connection.close()
        server.close()


def test_a_watcher_cut_off_from_redis_stops_its_build_before_its_lease_can_expire(
    clean_redis, pushing, silent_redis
):
    record, key = pushing.record, heartbeat_key(pushing.record.id)
    deadline = Deadline(300)
    seen: list[int] = []  # the lease's time left in Redis when the streams were cut
    with BuildWatcher(clean_redis, pushing.store, record, deadline, heartbeat_seconds=1) as watcher:
        watcher.on_abort(lambda: seen.append(int(clean_redis.pttl(key))))
        watcher.connection = silent_redis  # its host's network goes down
        wait_for(lambda: seen, 10, "the watcher to cut the build's streams")
        with pytest.raises(LeaseLostError) as stopped:
            deadline.check("pushing the image")

    assert seen[0] > 0  # cut while the lease was still held: nobody could have taken over yet
    assert str(stopped.value).startswith(
        "Stopped while pushing the image: Redis had not confirmed its heartbeat lease for"
    )


class HeldLink:
    """A loopback port forwarding to the registry, which the test can hold: while held, what
    either side sends waits (a network gone quiet); released, it flows on. ``open`` counts the
    connections neither side has closed yet."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self.connections = 0
        self.open = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = int(self._server.getsockname()[1])
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.upstream, timeout=30)
            with self._lock:
                self.connections += 1
                self.open += 1
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        source.settimeout(None)
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            if counted:
                with self._lock:
                    self.open -= 1

    def close(self) -> None:
        self._stopped.set()
        self.flowing.set()
        self._server.close()


def test_a_push_in_flight_is_cut_when_the_build_is_taken_over_and_never_lands(
    clean_redis, docker_api, base_image, registry_url, pushing
):
    link = HeldLink(("127.0.0.1", 5000))
    image = f"127.0.0.1:{link.port}/autobuild-test/in-flight-{uuid.uuid4().hex[:10]}"
    docker_api.tag(base_image, image, tag="latest")
    api = docker_factory(os.environ)(60, {})
    store, record, deadline = pushing.store, pushing.record, Deadline(300)
    outcome: list[BaseException | str] = []

    def push() -> None:
        try:
            outcome.append(push_tag(api, image, "latest", None, deadline, lambda _: None))
        except BaseException as error:
            outcome.append(error)

    try:
        with BuildWatcher(clean_redis, store, record, deadline, heartbeat_seconds=1) as watcher:
            watcher.on_abort(api.abort_streams)
            link.flowing.clear()  # the daemon's uploads to the registry hang from now on
            pusher = threading.Thread(target=push, daemon=True)
            pusher.start()
            wait_for(lambda: link.connections, 30, "the daemon to start pushing")
            # Another worker takes the build over, as core.recovery does once a lease lapsed.
            store.transition(record.id, BuildStatus.QUEUED, expect_attempt=1, attempt=2)
            clean_redis.set(heartbeat_key(record.id), OTHER_ATTEMPT, ex=30)
            pusher.join(timeout=10)  # the watcher reads the record every second and cuts
            assert not pusher.is_alive(), "the push stream was not cut"
        link.flowing.set()  # the network is back: whatever the daemon had sent goes through
        wait_for(lambda: link.open == 0, 60, "the daemon to drop its registry connections")
    finally:
        link.close()
        api.close()
        docker_api.remove_image(f"{image}:latest")

    (stopped,) = outcome
    assert isinstance(stopped, BuildStoppedError), stopped
    assert "queued again as attempt 2" in str(stopped)
    assert registry_digest(f"{registry_url}/{image.split('/', 1)[1]}", "latest") is None


def test_a_multi_platform_push_is_fenced_before_each_platform_image_and_each_index(
    docker_api, base_image, registry_url
):
    image = unique_image(registry_url, "fenced-index")
    host, path = split_image(image)
    image_id = docker_api.inspect_image(base_image)["Id"]
    platforms = [PlatformImage("linux/amd64", image_id), PlatformImage("linux/arm64", image_id)]
    asked: list[str] = []

    def fence_refusing(refused: str | None) -> Callable[[str], None]:
        def fence(activity: str) -> None:
            asked.append(activity)
            if refused is not None and activity.startswith(refused):
                raise LeaseLostError("the build was queued again as attempt 2", activity)

        return fence

    try:
        with RegistryClient(host, None) as registry:
            target = PushTarget(
                docker_api, image, path, registry, None, Deadline(300), lambda _: None
            )
            fenced = replace(target, fence=fence_refusing("pushing the index"))
            with pytest.raises(LeaseLostError):
                push_index(fenced, platforms, ["latest", "stable"])
            assert asked == [
                f"pushing {image}:latest (linux/amd64)",
                f"pushing {image}:latest (linux/arm64)",
                f"pushing the index {image}:latest",
            ]
            latest = registry.get_manifest(path, "latest")
            assert latest is not None and latest.media_type not in INDEX_TYPES  # no index
            assert registry_digest(image, "stable") is None

            asked.clear()
            pushed = push_index(replace(target, fence=fence_refusing(None)), platforms, ["stable"])
            assert asked == [
                f"pushing {image}:stable (linux/amd64)",
                f"pushing {image}:stable (linux/arm64)",
                f"pushing the index {image}:stable",
            ]
            assert registry_digest(image, "stable") == pushed.result.digest
    finally:
        docker_api.remove_image(f"{image}:latest")
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_api.remove_image(f"{image}:stable")
