"""The git repositories the bench builds, generated with ``git fast-import``, served by
``git daemon`` on 127.0.0.1.

The sample repository has ``commits`` commits: the first adds ``asset_files`` incompressible random
files of ``asset_bytes`` each plus the sources and the Dockerfile; every later commit rewrites one
asset with new random bytes, so the history really holds ``commits * asset_bytes`` of blobs that
no delta or zlib can shrink, while the tip holds ``asset_files * asset_bytes``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Process, free_port, run, wait_for_port

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/root"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}
IDENTITY = "Autobuild Bench <bench@autobuild.invalid>"

SAMPLE_DOCKERFILE = """\
FROM {base}
LABEL io.autobuild.bench="sample"
# the "runtime": a layer of 8 MB that never changes
RUN mkdir -p /opt/runtime && dd if=/dev/urandom of=/opt/runtime/lib.bin bs=1M count=8 2>/dev/null \\
    && sha256sum /opt/runtime/lib.bin > /opt/runtime/lib.sha
WORKDIR /app
COPY assets/ /app/assets/
COPY src/ /app/src/
RUN sh /app/src/build.sh
ENV APP_MODE=production
CMD ["cat", "/app/out/build.sha"]
"""

SAMPLE_BUILD_SH = b"""\
#!/bin/sh
set -e
mkdir -p /app/out
cat /app/src/*.txt | sha256sum > /app/out/build.sha
sha256sum /app/assets/* > /app/out/assets.sha
wc -l < /app/out/assets.sha > /app/out/count
"""

# Two platforms from one Dockerfile (BuildKit's TARGETARCH picks the busybox); the arm64 RUN
# steps run under QEMU.
MULTIARCH_DOCKERFILE = """\
FROM scratch
ARG TARGETARCH
COPY --chmod=755 busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /opt && /bin/busybox dd if=/dev/zero \
bs=1M count=16 2>/dev/null | /bin/busybox sha256sum > /opt/deps.sha"]
COPY src/ /app/src/
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /app/src/*.txt | /bin/busybox sha256sum \
> /app/build.sha && /bin/busybox uname -m"]
"""

# Stages that BuildKit runs in parallel, and a cache mount that survives between builds.
STAGES_DOCKERFILE = """\
FROM {base} AS deps
LABEL io.autobuild.bench="stages"
RUN --mount=type=cache,target=/cache/deps [ -f /cache/deps/deps.bin ] \\
    || dd if=/dev/urandom of=/cache/deps/deps.bin bs=1M count=8 2>/dev/null; \\
    sha256sum /cache/deps/deps.bin > /deps.sha
FROM {base} AS tools
LABEL io.autobuild.bench="stages"
RUN dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum > /tools.sha
FROM {base} AS app
LABEL io.autobuild.bench="stages"
COPY src/ /app/src/
RUN --mount=type=cache,target=/cache/app cat /app/src/*.txt | sha256sum > /app.sha \\
    && cp /app.sha /cache/app/last.sha
FROM {base}
LABEL io.autobuild.bench="stages"
COPY --from=deps /deps.sha /out/
COPY --from=tools /tools.sha /out/
COPY --from=app /app.sha /out/
CMD ["cat", "/out/app.sha"]
"""

COLD_DOCKERFILE = """\
FROM {base}
LABEL io.autobuild.bench="coldworker"
# the expensive first layer: {megabytes} MB through sha256 (CPU), and 16 MB of output
RUN mkdir -p /opt/deps && dd if=/dev/zero bs=1M count={megabytes} 2>/dev/null | sha256sum \\
    > /opt/deps/work.sha && dd if=/dev/urandom of=/opt/deps/deps.bin bs=1M count=16 2>/dev/null
COPY src/ /app/src/
RUN cat /app/src/*.txt | sha256sum > /app/build.sha
CMD ["cat", "/app/build.sha"]
"""


def source_text(index: int, salt: str = "") -> bytes:
    """A readable source file of about 3 KB."""
    line = f"// module {index} {salt}\n".encode()
    body = b"".join(
        f"export const value_{index}_{n} = '{secrets.token_hex(24)}';\n".encode() for n in range(40)
    )
    return line + body


@dataclass(frozen=True)
class RepoStats:
    commits: int
    pack_bytes: int
    tip_bytes: int


class BareRepo:
    """A bare repository under the daemon's base path, changed with ``git fast-import``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, input_bytes: bytes | None = None) -> str:
        return run(
            ["git", "--git-dir", str(self.path), *args], env=GIT_ENV, input_bytes=input_bytes
        ).strip()

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        run(
            ["git", "init", "--quiet", "--bare", "--initial-branch=master", str(self.path)],
            env=GIT_ENV,
        )
        (self.path / "git-daemon-export-ok").touch()

    def rev(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")

    def update_ref(self, ref: str, sha: str) -> None:
        self.git("update-ref", ref, sha)

    def fast_import(self, stream: bytes) -> dict[int, str]:
        """Feed ``stream`` to ``git fast-import``; returns its marks (mark -> sha)."""
        marks = self.path / f"marks-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            run(
                [
                    "git",
                    "--git-dir",
                    str(self.path),
                    "fast-import",
                    "--quiet",
                    f"--export-marks={marks}",
                ],
                env=GIT_ENV,
                input_bytes=stream,
            )
            found: dict[int, str] = {}
            if marks.exists():
                for line in marks.read_text().splitlines():
                    mark, sha = line.split()
                    found[int(mark[1:])] = sha
            return found
        finally:
            marks.unlink(missing_ok=True)

    def commit_chain(
        self,
        ref: str,
        parent: str | None,
        changes: Sequence[Mapping[str, bytes | None]],
        message: str = "change",
    ) -> list[str]:
        """One commit per entry of ``changes`` (path -> content, None deletes), each on the one
        before, starting from ``parent``; ``ref`` ends at the last. Returns the commits' shas."""
        parts: list[bytes] = []
        when = int(time.time())
        for index, files in enumerate(changes, start=1):
            text = f"{message} {index}".encode()
            parts.append(f"commit {ref}\nmark :{index}\n".encode())
            parts.append(f"committer {IDENTITY} {when} +0000\n".encode())
            parts.append(f"data {len(text)}\n".encode() + text + b"\n")
            if index == 1 and parent:
                parts.append(f"from {parent}\n".encode())
            elif index > 1:
                parts.append(f"from :{index - 1}\n".encode())
            for path, content in files.items():
                if content is None:
                    parts.append(f"D {path}\n".encode())
                else:
                    parts.append(f"M 100644 inline {path}\ndata {len(content)}\n".encode())
                    parts.append(content + b"\n")
        marks = self.fast_import(b"".join(parts))
        return [marks[i] for i in range(1, len(changes) + 1)]

    def commit(
        self,
        ref: str,
        parent: str | None,
        files: Mapping[str, bytes | None],
        message: str = "change",
    ) -> str:
        return self.commit_chain(ref, parent, [files], message)[0]

    def stats(self, ref: str = "refs/heads/master") -> RepoStats:
        commits = int(self.git("rev-list", "--count", ref))
        pack_bytes = sum(
            p.stat().st_size for p in (self.path / "objects").rglob("*") if p.is_file()
        )
        sizes = self.git("ls-tree", "-r", "-l", ref)
        tip = sum(int(line.split()[3]) for line in sizes.splitlines() if line.split()[3] != "-")
        return RepoStats(commits, pack_bytes, tip)


def generate_sample(
    repo: BareRepo,
    *,
    base_image: str,
    commits: int,
    asset_files: int,
    asset_bytes: int,
    source_files: int = 20,
) -> None:
    """Write the whole history in one ``fast-import`` stream (a few seconds for 50 MB)."""
    repo.create()
    process = subprocess.Popen(
        ["git", "--git-dir", str(repo.path), "fast-import", "--quiet"],
        env=GIT_ENV,
        stdin=subprocess.PIPE,
    )
    assert process.stdin is not None
    write = process.stdin.write
    start = int(time.time()) - commits * 60
    for index in range(commits):
        message = f"commit {index}: update assets".encode()
        write(b"commit refs/heads/master\n")
        write(f"mark :{index + 1}\ncommitter {IDENTITY} {start + index * 60} +0000\n".encode())
        write(f"data {len(message)}\n".encode() + message + b"\n")
        if index:
            write(f"from :{index}\n".encode())
        files: dict[str, bytes] = {}
        if index == 0:
            files["Dockerfile"] = SAMPLE_DOCKERFILE.format(base=base_image).encode()
            files[".dockerignore"] = b".git\n"
            files["src/build.sh"] = SAMPLE_BUILD_SH
            for number in range(source_files):
                files[f"src/mod{number:02d}.txt"] = source_text(number)
            for number in range(asset_files):
                files[f"assets/blob{number:04d}.bin"] = os.urandom(asset_bytes)
        else:
            files[f"assets/blob{index % asset_files:04d}.bin"] = os.urandom(asset_bytes)
        for path, content in files.items():
            write(f"M 100644 inline {path}\ndata {len(content)}\n".encode())
            write(content)
            write(b"\n")
    write(b"done\n")
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError("git fast-import failed to write the sample repository")


def generate_small(
    repo: BareRepo,
    dockerfile: str,
    source_files: int = 5,
    extra_files: Mapping[str, bytes | None] | None = None,
) -> str:
    """A small repository: a Dockerfile and a few sources (and ``extra_files``) in one commit;
    returns its sha."""
    repo.create()
    files: dict[str, bytes | None] = {"Dockerfile": dockerfile.encode(), **(extra_files or {})}
    for number in range(source_files):
        files[f"src/mod{number:02d}.txt"] = source_text(number)
    return repo.commit("refs/heads/master", None, files, "initial commit")


class GitDaemon:
    """``git daemon`` on 127.0.0.1, serving every repository under ``base``."""

    def __init__(self, base: Path, log_path: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process = Process(
            "git daemon",
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={base}",
                "--export-all",
                str(base),
            ],
            GIT_ENV,
            log_path,
        )

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> GitDaemon:
        self.process.start()
        wait_for_port(self.port, self.process)
        return self

    def stop(self) -> None:
        self.process.stop()
