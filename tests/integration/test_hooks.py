"""Docker Hub's build hooks on the real daemon and registry (issue 13 items 1-4): the ten hooks in
Hub's order, each a phase of its own; a ``build`` hook with a build arg from ``env:``; a
``post_push`` hook pushing ``$DOCKER_REPO:$SOURCE_COMMIT``; failures, the timeout and cancel
(the hook's processes gone); the fence (no worker environment, files or Redis); ``hooks: false``;
a secret ``env`` value masked."""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path

import pytest

from buildrules.hookfields import EnvVar
from core.control import cancel_build
from core.masking import MASK
from core.progress import PhaseStatus
from tests.integration.control_helpers import wait_for
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    registry_digest,
    unique_image,
)
from worker.hooks import HOOK_NAMES
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

BUILD_HOOK = (
    "#!/bin/sh\nset -e\necho hook build ran\n"
    'docker build --network none --build-arg GREETING="$GREETING" -t "$IMAGE_NAME" .\n'
)
PUSH_HOOK = '#!/bin/sh\nset -e\necho hook push ran\ndocker push "$IMAGE_NAME"\n'
POST_PUSH_HOOK = (
    "#!/bin/sh\nset -e\necho hook post_push ran\n"
    'docker tag "$IMAGE_NAME" "$DOCKER_REPO:$SOURCE_COMMIT"\n'
    'docker push "$DOCKER_REPO:$SOURCE_COMMIT"\n'
)


def echo_hook(name: str, extra: str = "") -> str:
    return f"#!/bin/sh\necho hook {name} ran\n{extra}"


def processes_with(argument: str) -> list[int]:
    """PIDs of processes whose command line has ``argument`` as one of its words."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in words:
            found.append(int(entry.name))
    return found


def test_the_ten_hooks_run_in_docker_hubs_order_build_with_env_and_push_the_commit_tag(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, docker_client
):
    greeting = f"hello-{uuid.uuid4().hex[:8]}"
    token = f"tok-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    hooks = {f"hooks/{name}": echo_hook(name) for name in HOOK_NAMES}
    hooks["hooks/post_checkout"] = echo_hook(
        "post_checkout",
        'echo "vars $SOURCE_BRANCH $DOCKER_REPO $DOCKER_TAG $IMAGE_NAME $BUILD_CODE"\n'
        'echo "more $SOURCE_TYPE $DOCKERFILE_PATH $BUILD_PATH $PUSH $COMMIT_MSG $(pwd)"\n'
        'echo "token is $TOKEN"\n',
    )
    hooks.update(
        {"hooks/build": BUILD_HOOK, "hooks/push": PUSH_HOOK, "hooks/post_push": POST_PUSH_HOOK}
    )
    repo = make_git_repo(
        {
            "app/Dockerfile": (
                f'FROM {base_image}\nARG GREETING\nRUN echo "$GREETING" > /greeting\n'
            ),
            **{f"app/{path}": text for path, text in hooks.items()},
        }
    )
    image = unique_image(registry_url, "hooks")
    repository = make_repository(
        repo.url,
        image,
        hooks=True,
        env=(EnvVar("GREETING", greeting), EnvVar("TOKEN", secret_env="K13A_HOOK_TOKEN")),
    )
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository], environ={"K13A_HOOK_TOKEN": token}
    )
    commit = repo.head()
    record = create_record(
        context.store, repository, commit, dockerfile="Dockerfile", context="app"
    )

    assert execute_build(context, record.id) == "success", context.store.require(record.id).error
    done = context.store.require(record.id)
    text = log_text(clean_redis, record.id)
    ran = [line.split()[1] for line in text.splitlines() if line.startswith("hook ")]
    assert ran == list(HOOK_NAMES)
    names = [phase.name for phase in done.phases]
    assert names == ["clone", *HOOK_NAMES, "verify", "attest"]
    assert all(p.status is PhaseStatus.SUCCESS for p in done.phases if p.name != "attest")
    assert f"vars master {image} latest {image}:latest {record.id}" in text
    assert "more git Dockerfile app TRUE initial commit /src/app" in text
    assert f"token is {MASK}" in text and token not in text
    # the build hook's image, with the env: value as its build arg, is what the registry has
    assert done.digest == registry_digest(image, "latest")
    assert registry_digest(image, commit) == done.digest
    output = docker_client.containers.run(
        f"{image}@{done.digest}", ["cat", "/greeting"], remove=True, network_mode="none"
    )
    assert output.decode().strip() == greeting


def fence_probe(secret_file: Path, workdir: Path) -> str:
    return (
        "#!/bin/sh\n"
        "echo probe-start\n"
        "env | sed 's/^/env: /'\n"
        f'echo "file: $(cat {secret_file} 2>&1)"\n'
        f'echo "workdir: $(ls {workdir} 2>&1)"\n'
        'curl -sS -m 5 http://127.0.0.1:6379/ >/dev/null 2>&1; echo "redis-curl-exit=$?"\n'
        'echo "pid1: $(cat /proc/1/cmdline | tr "\\0" " ")"\n'
        "exit 9\n"
    )


def test_a_hook_sees_neither_the_workers_environment_nor_its_files_nor_redis(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url, monkeypatch
):
    worker_secret = f"worker-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("K13A_WORKER_SECRET", worker_secret)
    secret_file = tmp_path / "shadow"
    secret_file.write_text(f"shadow-{worker_secret}\n")
    workdir = tmp_path / "work"
    repo = make_git_repo(
        {"Dockerfile": "FROM scratch\n", "hooks/post_checkout": fence_probe(secret_file, workdir)}
    )
    repository = make_repository(repo.url, unique_image(registry_url, "fence"), hooks=True)
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository], environ={"K13A_WORKER_SECRET": "x"}
    )
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "failed"
    done = context.store.require(record.id)
    assert done.error == "post_checkout hook failed (exit 9)."
    text = log_text(clean_redis, record.id)
    assert "probe-start" in text
    assert worker_secret not in text and "K13A_WORKER_SECRET" not in text
    assert "REDIS_URL" not in text and "AUTOBUILD" not in text
    assert "file: cat: " in text and "No such file" in text.split("file: ", 1)[1]
    assert "workdir: ls: " in text
    assert "redis-curl-exit=7" in text  # could not connect: not a closed connection (52)
    assert (
        "pid1: /usr/bin/bwrap --die-with-parent" in text
    )  # its own PID namespace: the worker's processes are not there
    assert "--setenv" not in text  # no value on a command line (visible to every host user)
    assert [(p.name, p.status) for p in done.phases][:3] == [
        ("clone", PhaseStatus.SUCCESS),
        ("post_checkout", PhaseStatus.FAILED),
        ("pre_build", PhaseStatus.SKIPPED),
    ]


def test_a_failing_pre_build_fails_the_build_and_pushes_nothing(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    repo = make_git_repo(
        {
            "Dockerfile": f"FROM {base_image}\n",
            "hooks/pre_build": "#!/bin/sh\necho about to fail\nexit 3\n",
        }
    )
    image = unique_image(registry_url, "hookfail")
    repository = make_repository(repo.url, image, hooks=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "failed"
    done = context.store.require(record.id)
    assert done.error == "pre_build hook failed (exit 3)."
    assert "about to fail" in log_text(clean_redis, record.id)
    assert registry_digest(image, "latest") is None
    assert dict((p.name, p.status) for p in done.phases)["build"] is PhaseStatus.SKIPPED


def test_a_hook_without_a_shebang_line_is_refused_saying_so(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n", "hooks/pre_build": "echo no shebang\n"})
    repository = make_repository(repo.url, unique_image(registry_url, "nobang"), hooks=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "failed"
    assert "missing a #! line" in (context.store.require(record.id).error or "")


def sleeping_hook(marker: str) -> str:
    return f"#!/bin/sh\necho sleeping\nsleep {marker} &\nsleep {marker}\n"


@pytest.mark.parametrize(
    ("limits", "limit"),
    [
        ({"timeout_seconds": 6}, "the repository's timeout of 6 seconds"),
        ({"no_output_timeout_seconds": 3}, "the repository's no_output_timeout of 3 seconds"),
    ],
)
def test_a_hook_sleeping_past_a_time_limit_is_stopped_with_its_processes(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url, limits, limit
):
    marker = str(random.randint(7_000_000, 7_999_999))
    repo = make_git_repo({"Dockerfile": "FROM scratch\n", "hooks/pre_build": sleeping_hook(marker)})
    repository = make_repository(
        repo.url, unique_image(registry_url, "hooksleep"), hooks=True, **limits
    )
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "timed_out"
    done = context.store.require(record.id)
    assert "while running the pre_build hook" in (done.error or "")
    assert limit in (done.error or "")
    wait_for(lambda: not processes_with(marker), 5, "the hook's processes to be gone")


def test_a_canceled_build_stops_its_running_hook_and_every_process_it_started(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url
):
    marker = str(random.randint(8_000_000, 8_999_999))
    repo = make_git_repo(
        {"Dockerfile": "FROM scratch\n", "hooks/post_checkout": sleeping_hook(marker)}
    )
    repository = make_repository(repo.url, unique_image(registry_url, "hookcancel"), hooks=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())
    ended: list[str] = []
    runner = threading.Thread(target=lambda: ended.append(execute_build(context, record.id)))
    runner.start()
    try:
        wait_for(lambda: len(processes_with(marker)) >= 2, 30, "the hook to start sleeping")
        cancel_build(context.store, record.id)
        runner.join(timeout=15)
    finally:
        runner.join(timeout=30)
    assert ended == ["canceled"]
    wait_for(lambda: not processes_with(marker), 5, "the hook's processes to be gone")
    assert "Build stopped while running the post_checkout hook" in log_text(clean_redis, record.id)


def test_hooks_false_ignores_the_hooks_folder(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    repo = make_git_repo(
        {
            "Dockerfile": f"FROM {base_image}\n",
            "hooks/pre_build": "#!/bin/sh\nexit 1\n",
            "hooks/build": "#!/bin/sh\nexit 1\n",
        }
    )
    image = unique_image(registry_url, "nohooks")
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "success"
    done = context.store.require(record.id)
    assert [p.name for p in done.phases] == ["clone", "build", "push", "verify", "attest"]
    assert done.digest == registry_digest(image, "latest")


def test_a_build_hook_that_leaves_no_image_fails_saying_so(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n", "hooks/build": "#!/bin/sh\ntrue\n"})
    image = unique_image(registry_url, "noimage")
    repository = make_repository(repo.url, image, hooks=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "failed"
    error = context.store.require(record.id).error or ""
    assert f"without building {image}:latest" in error


def test_docker_buildkit_0_in_env_builds_with_the_legacy_builder_and_reaches_the_hooks(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    repo = make_git_repo(
        {
            "Dockerfile": f"FROM {base_image}\nRUN echo legacy-step\n",
            "hooks/pre_build": '#!/bin/sh\necho "buildkit=$DOCKER_BUILDKIT"\n',
        }
    )
    image = unique_image(registry_url, "legacyenv")
    repository = make_repository(repo.url, image, hooks=True, env=(EnvVar("DOCKER_BUILDKIT", "0"),))
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())

    assert execute_build(context, record.id) == "success"
    text = log_text(clean_redis, record.id)
    assert "buildkit=0" in text and "with legacy" in text
    assert context.store.require(record.id).digest == registry_digest(image, "latest")


@pytest.mark.parametrize(
    ("push_hook", "complaint"),
    [
        ("#!/bin/sh\necho pushing nothing\n", "the registry does not have"),
        (
            '#!/bin/sh\nset -e\ndocker push "$IMAGE_NAME"\n'
            'docker tag BASE "$DOCKER_REPO:edge"\ndocker push "$DOCKER_REPO:edge"\n',
            "are not all the image this build made",
        ),
    ],
)
def test_a_push_hook_must_leave_every_tag_in_the_registry_with_the_built_image(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url, push_hook, complaint
):
    repo = make_git_repo(
        {
            "Dockerfile": f"FROM {base_image}\nLABEL bust={uuid.uuid4().hex}\n",
            "hooks/push": push_hook.replace("BASE", base_image),
        }
    )
    image = unique_image(registry_url, "pushhook")
    repository = make_repository(repo.url, image, hooks=True)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    # two tags: the first hook pushes neither, the second pushes the base image as "edge"
    record = create_record(context.store, repository, repo.head(), tags=("latest", "edge"))

    assert execute_build(context, record.id) == "failed"
    assert complaint in (context.store.require(record.id).error or "")
