"""``secrets: {ID: ENV_VAR}`` end to end: a push builds through the worker, whose ``RUN
--mount=type=secret`` step reads the worker's variable; the value is then searched for in the
image (every byte of ``docker save``), its history, the stored build log and every API answer.

The same build takes its ``FROM`` image from the htpasswd registry only: the BuildKit session
answers the registry credentials the configuration names (issue 12 item 3 on the BuildKit path).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.buildkit_helpers import push_private_base
from tests.integration.control_helpers import (
    ADMIN,
    FAST_CONTROL,
    WorkerProcess,
    build_of,
    burst,
    configure,
    dockerfile,
    push,
    repository_entry,
    wait_for,
)
from tests.integration.webhook_helpers import (
    github_push,
    make_app,
    make_settings,
    post_github,
    run_burst_worker,
)
from tests.integration.worker_helpers import log_text, unique_image

pytestmark = pytest.mark.integration

REPO = "octo/build-secrets"
WEBHOOK_SECRET = f"whsec-{uuid.uuid4().hex}"
NPM_TOKEN = f"npm_{uuid.uuid4().hex}"
ADMIN_TOKEN = f"admin-{uuid.uuid4().hex}"


def config_text(clone_url: str, image: str, registry: str, secret_env: str) -> str:
    return textwrap.dedent(
        f"""
        registries:
          - host: {registry}
            username_env: BKS_REG_USER
            password_env: BKS_REG_PASSWORD
        repositories:
          - provider: github
            name: {REPO}
            clone_url: {clone_url}
            image: {image}
            webhook_secret_env: BKS_WEBHOOK
            network: none
            pull_registries: [{registry}]
            secrets: {{NPM_TOKEN: {secret_env}}}
            build_rules:
              - source_type: branch
                source: master
                docker_tag: latest
        """
    )


def forms(secret: str) -> list[bytes]:
    return [secret.encode(), base64.b64encode(secret.encode()).rstrip(b"=")]


def assert_absent(where: str, data: str | bytes) -> None:
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    for form in forms(NPM_TOKEN):
        assert form not in blob, f"the build secret ({form!r}) leaked into {where}"


USES_AND_PRINTS = (
    "RUN --mount=type=secret,id=NPM_TOKEN md5sum /run/secrets/NPM_TOKEN"
    " && echo careless: $(cat /run/secrets/NPM_TOKEN)"
)


def build(
    tmp_path, redis_url, make_git_repo, docker_api, base_image, auth_registry, env, step=None
):
    """Push a repository whose Dockerfile uses the secret and prints it; run the worker; return
    (test client, build id, worker process)."""
    private = push_private_base(docker_api, base_image, auth_registry)
    repo = make_git_repo(
        {
            "Dockerfile": (
                f"FROM {private}\nENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}\n"
                f"{step or USES_AND_PRINTS}\n"
            )
        }
    )
    config = tmp_path / "autobuild.yml"
    image = unique_image("127.0.0.1:5000", "build-secrets")
    config.write_text(config_text(repo.url, image, auth_registry.host, "BKS_NPM_TOKEN"))
    settings = make_settings(
        config,
        redis_url,
        tmp_path,
        BKS_WEBHOOK=WEBHOOK_SECRET,
        BKS_REG_USER=auth_registry.username,
        BKS_REG_PASSWORD=auth_registry.password,
        AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN,
        **env,
    )
    client = make_app(settings).test_client()
    answer = post_github(
        client, WEBHOOK_SECRET, github_push(REPO, "refs/heads/master", repo.head())
    )
    assert answer.status_code == 202, answer.get_data()
    (queued,) = answer.get_json()["builds"]
    worker = run_burst_worker(settings)
    return client, queued["id"], worker


def test_a_secret_reaches_run_and_not_the_image_history_log_or_api(
    tmp_path, redis_url, clean_redis, make_git_repo, docker_api, base_image, auth_registry
):
    client, build_id, worker = build(
        tmp_path,
        redis_url,
        make_git_repo,
        docker_api,
        base_image,
        auth_registry,
        {"BKS_NPM_TOKEN": NPM_TOKEN},
    )
    record = client.get(f"/api/v1/builds/{build_id}").get_json()
    assert record["status"] == "success", (record["error"], worker.stderr[-3000:])

    log = log_text(clean_redis, build_id)
    assert hashlib.md5(NPM_TOKEN.encode()).hexdigest() in log  # the RUN step read the value
    assert "careless: ******" in log  # printed by the step, masked in the log
    assert_absent("the stored build log", log)

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in (
        f"/api/v1/builds/{build_id}",
        "/api/v1/builds",
        f"/api/v1/builds/{build_id}/logs",
        f"/builds/{build_id}",
    ):
        assert_absent(path, client.get(path, headers=admin).get_data())
    assert_absent("the worker's output", worker.stdout + worker.stderr)

    history = json.dumps(docker_api.history(record["image_id"]))
    assert "NPM_TOKEN" in history  # the step is there, with the id and not the value
    assert_absent("the image's history", history)
    assert_absent("the image (docker save)", b"".join(docker_api.get_image(record["image_id"])))


def test_a_failing_step_that_prints_the_secret_keeps_it_out_of_the_error(
    tmp_path, redis_url, clean_redis, make_git_repo, docker_api, base_image, auth_registry
):
    step = "RUN --mount=type=secret,id=NPM_TOKEN echo leaked $(cat /run/secrets/NPM_TOKEN); exit 3"
    client, build_id, worker = build(
        tmp_path,
        redis_url,
        make_git_repo,
        docker_api,
        base_image,
        auth_registry,
        {"BKS_NPM_TOKEN": NPM_TOKEN},
        step,
    )
    record = client.get(f"/api/v1/builds/{build_id}").get_json()
    assert record["status"] == "failed", (record, worker.stderr[-3000:])
    assert "exit code: 3" in record["error"]
    assert "leaked ******" in record["error"]  # the step's last output, masked
    assert_absent("the error", record["error"])
    assert_absent("the stored build log", log_text(clean_redis, build_id))


def test_a_secret_whose_variable_is_unset_fails_the_build_naming_both(
    tmp_path, redis_url, clean_redis, make_git_repo, docker_api, base_image, auth_registry
):
    client, build_id, worker = build(
        tmp_path, redis_url, make_git_repo, docker_api, base_image, auth_registry, {}
    )
    record = client.get(f"/api/v1/builds/{build_id}").get_json()
    assert record["status"] == "failed", worker.stderr[-3000:]
    assert "NPM_TOKEN" in record["error"] and "BKS_NPM_TOKEN" in record["error"]
    assert "not set" in record["error"]


def processes_with(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (BuildKit runs ``RUN`` steps with runc,
    not as Docker containers, so they are found in /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def test_a_canceled_secret_build_stops_its_run_step_within_ten_seconds(
    tmp_path, redis_url, clean_redis, make_git_repo, base_image, registry_url
):
    marker = f"secret-cancel-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image, f"RUN --mount=type=secret,id=TOKEN sleep 60; echo {marker}"
            )
        }
    )
    name = f"octo/secret-cancel-{uuid.uuid4().hex[:6]}"
    image = unique_image(registry_url, "secret-cancel")
    entry = repository_entry(
        name, repo.url, image, network="none", secrets={"TOKEN": "BKS_CANCEL_TOKEN"}
    )
    settings, client = configure(
        tmp_path, redis_url, [entry], BKS_CANCEL_TOKEN="cancel-token-value", **FAST_CONTROL
    )
    (build,) = push(client, name, repo.head())
    with WorkerProcess(settings, tmp_path / "worker.log"):
        wait_for(lambda: processes_with(marker), 60, "the RUN step")
        canceled_at = time.monotonic()
        answer = client.post(f"/api/v1/builds/{build['id']}/cancel", headers=ADMIN)
        assert answer.status_code == 200 and answer.json["status"] == "canceled"
        wait_for(lambda: not processes_with(marker), 10, "the RUN step to go")
        assert time.monotonic() - canceled_at < 10
        assert build_of(client, build["id"])["status"] == "canceled"


def test_a_secret_build_past_its_timeout_ends_timed_out_and_its_run_step_goes(
    tmp_path, redis_url, clean_redis, make_git_repo, base_image, registry_url
):
    marker = f"secret-timeout-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image, f"RUN --mount=type=secret,id=TOKEN sleep 60; echo {marker}"
            )
        }
    )
    name = f"octo/secret-timeout-{uuid.uuid4().hex[:6]}"
    image = unique_image(registry_url, "secret-timeout")
    entry = repository_entry(
        name, repo.url, image, network="none", timeout="8s", secrets={"TOKEN": "BKS_TO_TOKEN"}
    )
    settings, client = configure(tmp_path, redis_url, [entry], BKS_TO_TOKEN="timeout-token-value")
    (build,) = push(client, name, repo.head())
    burst(settings)
    record = build_of(client, build["id"])
    assert record["status"] == "timed_out", record
    assert "the repository's timeout of 8 seconds was reached" in record["error"]
    wait_for(lambda: not processes_with(marker), 10, "the RUN step to go")
