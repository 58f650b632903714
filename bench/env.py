"""One bench run: its lock, Redis database, directories, repositories, configuration and
processes, and the cleanup that leaves nothing behind but images under ``autobuild-bench/`` in
the registry (and the run's logs under ``var/bench/``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import redis

from bench.images import Namespace, RegistryHttp, build_base_image, docker_api, remove_local_images
from bench.procs import PROJECT_ROOT, VENV_BIN, Process, free_port, wait_for_http
from bench.sample import (
    COLD_DOCKERFILE,
    MULTIARCH_DOCKERFILE,
    STAGES_DOCKERFILE,
    BareRepo,
    GitDaemon,
    generate_sample,
    generate_small,
)

REGISTRY = "127.0.0.1:5000"
REDIS_HOST_PORT = "127.0.0.1:6379"
DEFAULT_REDIS_DB = 7
SECRET_ENV = "AUTOBUILD_BENCH_WEBHOOK_SECRET"
MARKER_KEY = "autobuild-bench:owner"
BENCH_ROOT = PROJECT_ROOT / "var" / "bench"

SAMPLE = "autobuild-bench/sample"
SAMPLE_LEGACY = (
    "autobuild-bench/sample-legacy"  # the same repository, built with the legacy builder
)
COLD = "autobuild-bench/coldworker"
COLD_NOCACHE = "autobuild-bench/coldworker-nocache"
MULTIARCH = "autobuild-bench/multiarch"
STAGES = "autobuild-bench/stages"
MULTIARCH_PLATFORMS = ("linux/amd64", "linux/arm64")
ARM64_BUSYBOX = PROJECT_ROOT / "var" / "foreign" / "arm64" / "busybox"  # scripts/arm64-busybox.sh
INGEST = "autobuild-bench/ingest"


@dataclass(frozen=True)
class Params:
    quick: bool
    commits: int = 2000
    asset_files: int = 300
    asset_bytes: int = 26_000  # history: (commits + asset_files) * asset_bytes, about 60 MB
    e2e_rounds: int = 5
    ingest_seconds: float = 6.0
    ingest_levels: tuple[int, ...] = (1, 16, 64)
    ingest_branches: int = 100
    ingest_rate: float = 200.0  # deliveries/s of the sustained (paced) row, on the most connections
    cold_megabytes: int = 1000  # the expensive layer's sha256 input (about 5 s of CPU)
    burst_pushes: int = 20

    @classmethod
    def for_mode(cls, quick: bool) -> Params:
        if quick:
            return cls(quick=True, e2e_rounds=1, ingest_seconds=2.0)
        return cls(quick=False)


class Bench:
    """Use as a context manager: everything started is stopped and removed on the way out."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        self.root = BENCH_ROOT / self.run_id
        self.git_dir = self.root / "git"
        self.work_dir = self.root / "work"
        self.log_dir = self.root / "logs"
        self.scratch = self.root / "scratch"
        self.redis_db = int(os.environ.get("AUTOBUILD_BENCH_REDIS_DB", DEFAULT_REDIS_DB))
        self.redis_url = f"redis://{REDIS_HOST_PORT}/{self.redis_db}"
        self.redis = redis.Redis.from_url(self.redis_url)
        self.secret = secrets.token_hex(16)
        self.namespace = Namespace(REGISTRY)
        self.base_image = self.namespace.image("busybox") + ":latest"
        self.api = docker_api()
        self.registry = RegistryHttp(REGISTRY)
        self.processes: list[Process] = []
        self.daemon: GitDaemon | None = None
        self.config_path = self.root / "autobuild.yml"
        self._lock: IO[str] | None = None
        self.sample = BareRepo(self.git_dir / "sample.git")
        self.cold = BareRepo(self.git_dir / "coldworker.git")
        self.multiarch = BareRepo(self.git_dir / "multiarch.git")
        self.stages = BareRepo(self.git_dir / "stages.git")

    # -- setup -------------------------------------------------------------------------------
    def __enter__(self) -> Bench:
        self._take_lock()
        try:
            self._check_services()
            self._claim_redis()
            self._prepare_dirs()
            remove_local_images(self.api, self.namespace)  # leftovers of an interrupted run
            build_base_image(self.api, self.base_image)
            self.daemon = GitDaemon(self.git_dir, self.log_dir / "git-daemon.log").start()
            self.processes.append(self.daemon.process)
            self._generate_repositories()
            self._write_config()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _take_lock(self) -> None:
        path = Path(tempfile.gettempdir()) / "autobuild-bench.lock"
        handle = open(path, "a")  # noqa: SIM115 - held for the run, closed in __exit__
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RuntimeError("another bench run holds the lock; wait for it to end") from None
        self._lock = handle

    def _check_services(self) -> None:
        problems = []
        try:
            redis.Redis.from_url(self.redis_url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {REDIS_HOST_PORT}: {exc}")
        try:
            self.api.ping()
        except Exception as exc:  # any failure: the daemon is not usable
            problems.append(f"Docker daemon: {exc}")
        try:
            with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=3) as response:
                if response.status != 200:
                    problems.append(f"registry {REGISTRY}: HTTP {response.status}")
        except OSError as exc:
            problems.append(f"registry {REGISTRY}: {exc}")
        if problems:
            raise RuntimeError("services missing (run `make services`): " + "; ".join(problems))

    def _claim_redis(self) -> None:
        if self.redis.dbsize() and not self.redis.exists(MARKER_KEY):
            raise RuntimeError(
                f"Redis database {self.redis_db} holds keys that are not the bench's;"
                " choose another with AUTOBUILD_BENCH_REDIS_DB"
            )
        self.redis.flushdb()
        self.redis.set(MARKER_KEY, self.run_id)

    def _prepare_dirs(self) -> None:
        if BENCH_ROOT.exists():  # earlier runs: keep nothing but their logs' latest
            for old in BENCH_ROOT.iterdir():
                if old.is_dir() and old.name != self.run_id:
                    shutil.rmtree(old, ignore_errors=True)
        for directory in (self.git_dir, self.work_dir, self.log_dir, self.scratch):
            directory.mkdir(parents=True, exist_ok=True)

    def _generate_repositories(self) -> None:
        p = self.params
        start = time.perf_counter()
        generate_sample(
            self.sample,
            base_image=self.base_image,
            commits=p.commits,
            asset_files=p.asset_files,
            asset_bytes=p.asset_bytes,
        )
        self.sample_seconds = time.perf_counter() - start
        self.sample_stats = self.sample.stats()
        generate_small(
            self.cold, COLD_DOCKERFILE.format(base=self.base_image, megabytes=p.cold_megabytes)
        )
        extra: dict[str, bytes | None] = {"busybox-amd64": Path("/bin/busybox").read_bytes()}
        if ARM64_BUSYBOX.is_file():  # else the multiarch figure says what is missing
            extra["busybox-arm64"] = ARM64_BUSYBOX.read_bytes()
        generate_small(self.multiarch, MULTIARCH_DOCKERFILE, extra_files=extra)
        generate_small(self.stages, STAGES_DOCKERFILE.format(base=self.base_image))

    def url(self, repo: BareRepo) -> str:
        assert self.daemon is not None
        return self.daemon.url(repo.path.name)

    def _write_config(self) -> None:
        assert self.daemon is not None
        sample_url, cold_url = self.url(self.sample), self.url(self.cold)
        multiarch_url = self.url(self.multiarch)
        stages_url = self.url(self.stages)
        platforms = ", ".join(MULTIARCH_PLATFORMS)
        unused_url = self.daemon.url("never-fetched.git")
        ns = self.namespace
        self.config_path.write_text(
            f"""# written by the bench (run {self.run_id})
registries:
  - host: {REGISTRY}
repositories:
  - provider: github
    name: {INGEST}
    clone_url: {unused_url}
    image: {ns.image("ingest")}
    webhook_secret_env: {SECRET_ENV}
    build_rules:
      - source_type: branch
        source: /^feature-[0-9]+$/
        docker_tag: '{{sourceref}}'
  - provider: github
    name: {SAMPLE}
    clone_url: {sample_url}
    image: {ns.image("sample")}
    webhook_secret_env: {SECRET_ENV}
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
  - provider: github
    name: {SAMPLE_LEGACY}
    clone_url: {sample_url}
    image: {ns.image("sample-legacy")}
    webhook_secret_env: {SECRET_ENV}
    builder: legacy
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
  - provider: github
    name: {COLD}
    clone_url: {cold_url}
    builder: legacy  # cold_worker measures the legacy cache_from pull (see bench/coldworker.py)
    image: {ns.image("coldworker")}
    webhook_secret_env: {SECRET_ENV}
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
  - provider: github
    name: {COLD_NOCACHE}
    clone_url: {cold_url}
    builder: legacy  # cold_worker measures the legacy cache_from pull (see bench/coldworker.py)
    image: {ns.image("coldworker-nocache")}
    webhook_secret_env: {SECRET_ENV}
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
        build_caching: false
  - provider: github
    name: {MULTIARCH}
    clone_url: {multiarch_url}
    image: {ns.image("multiarch")}
    webhook_secret_env: {SECRET_ENV}
    platforms: [{platforms}]
    build_rules:
      - source_type: branch
        source: master
        docker_tag: [build, latest]  # the platforms go under "build"; "latest" only the index
  - provider: github
    name: {STAGES}
    clone_url: {stages_url}
    image: {ns.image("stages")}
    webhook_secret_env: {SECRET_ENV}
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
"""
        )

    # -- processes ---------------------------------------------------------------------------
    def environ(self, queue: str, redis_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOBUILD_")}
        env.update(
            {
                "AUTOBUILD_CONFIG": str(self.config_path),
                "REDIS_URL": redis_url or self.redis_url,
                "AUTOBUILD_WORKDIR": str(self.work_dir),
                "AUTOBUILD_QUEUE": queue,
                SECRET_ENV: self.secret,
            }
        )
        return env

    def start_web(
        self, queue: str, name: str = "web", redis_url: str | None = None
    ) -> tuple[Process, int]:
        """``autobuild web`` on a free port, on the bench's Redis unless ``redis_url``."""
        port = free_port()
        process = Process(
            name,
            [str(VENV_BIN / "autobuild"), "web", "--host", "127.0.0.1", "--port", str(port)],
            self.environ(queue, redis_url),
            self.log_dir / f"{name}.log",
        ).start()
        self.processes.append(process)
        wait_for_http(port, "/healthz", process)
        return process, port

    def start_worker(self, queue: str, name: str = "worker") -> Process:
        process = Process(
            name,
            [str(VENV_BIN / "autobuild"), "worker"],
            self.environ(queue),
            self.log_dir / f"{name}.log",
        ).start()
        self.processes.append(process)
        end = time.monotonic() + 30
        while b"Listening on" not in process.log_path.read_bytes():
            if not process.alive():
                raise RuntimeError(f"the worker exited at start:\n{process.tail()}")
            if time.monotonic() > end:
                raise RuntimeError(f"the worker did not start listening:\n{process.tail()}")
            time.sleep(0.1)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def clean_images(self) -> int:
        return remove_local_images(self.api, self.namespace, keep=frozenset({self.base_image}))

    def clear_mirrors(self) -> None:
        shutil.rmtree(self.work_dir / "mirrors", ignore_errors=True)

    # -- teardown ----------------------------------------------------------------------------
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()
        self.processes.clear()
        with contextlib.suppress(Exception):
            remove_local_images(self.api, self.namespace)
        with contextlib.suppress(Exception):
            self.redis.flushdb()
        self.registry.close()
        for directory in (self.git_dir, self.work_dir, self.scratch):
            shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(Exception):
            self.api.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def info_line(bench: Bench) -> str:
    s = bench.sample_stats
    return (
        f"sample repository: {s.commits} commits, {s.pack_bytes / 1e6:.1f} MB of history"
        f" (objects on disk), {s.tip_bytes / 1e6:.1f} MB at the tip;"
        f" generated in {bench.sample_seconds:.1f} s with git fast-import"
    )


def summary_of(api: Any) -> str:
    version = api.version()
    return f"Docker Engine {version.get('Version')} (API {version.get('ApiVersion')}), BuildKit"
