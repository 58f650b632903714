"""Secrets kept: every kind of secret Autobuild holds is planted where a careless service would
leak it, and shown to appear nowhere it could be read back.

The secrets: the webhook secret, the trigger token, the registry password, the admin token, and a
token inside a clone URL. The places they are planted: a RUN step that prints its repository's, a
push with a wrong password, a fetch that fails (a clone URL with credentials; a git helper that
prints a secret), an exception in the web process and one in the worker. The places searched: the
stored build log, every API answer (build JSON, the logs endpoint as text and as Server-Sent Events,
error answers), the process logs (the web app's log records, the worker process's stderr) and the
image (configuration, environment, labels, history, and every byte of ``docker save``; the context
in it carries no ``.git``).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import tarfile
import textwrap
import uuid
from dataclasses import replace

import pytest

from app import create_app
from buildrules.loader import load_text
from buildrules.model import Config, RegistryAuth
from core.logs import read_log
from tests.integration.webhook_helpers import (
    github_push,
    make_app,
    make_settings,
    post_github,
    run_burst_worker,
)
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

REPO = "octo/secrets"
WEBHOOK_SECRET = f"whsec-{uuid.uuid4().hex}"
TRIGGER_TOKEN = f"trigger-{uuid.uuid4().hex}"
ADMIN_TOKEN = f"admin-{uuid.uuid4().hex}"
URL_TOKEN = f"ghp_{uuid.uuid4().hex}"


def forms(secret: str) -> list[bytes]:
    """The secret as bytes, and base64 of it (a careless log might print either)."""
    return [secret.encode(), base64.b64encode(secret.encode()).rstrip(b"=")]


def assert_absent(secrets: list[str], where: str, data: str | bytes) -> None:
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    for secret in secrets:
        for form in forms(secret):
            assert form not in blob, f"{secret!r} ({form!r}) leaked into {where}"


def config_text(clone_url: str, image: str, registry: str) -> str:
    return textwrap.dedent(
        f"""
        registries:
          - host: {registry}
            username_env: SECRETS_REG_USER
            password_env: SECRETS_REG_PASSWORD
        repositories:
          - provider: github
            name: {REPO}
            clone_url: {clone_url}
            image: {image}
            webhook_secret_env: SECRETS_WEBHOOK
            trigger_token_env: SECRETS_TRIGGER
            build_rules:
              - source_type: branch
                source: master
                docker_tag: latest
                build_args:
                  GREETING: hello-{{sourceref}}
        """
    )


CARELESS_STEPS = """\
RUN echo "careless step prints {printed} and {b64}"
"""
PROBING_STEPS = """\
COPY . /context
RUN env > /build-env.txt; echo "greeting=$GREETING"; ls -a /context
RUN cat /build-env.txt
"""


def plant(tmp_path, redis_url, make_git_repo, base_image, auth_registry, steps: str):
    """A repository on the authenticated registry whose Dockerfile runs ``steps``: printing every
    secret (as a careless repository would), or looking for them in its build environment."""
    password = auth_registry.password
    secrets = [WEBHOOK_SECRET, TRIGGER_TOKEN, password, ADMIN_TOKEN]
    b64 = base64.b64encode(password.encode()).decode()
    # A build's log hides the secrets its repository has (the admin token is no build's: masking
    # it in build output would tell a guessing build it guessed right; test_build_log_masking.py)
    body = steps.format(printed=" ".join(secrets[:3]), b64=b64)
    repo = make_git_repo(
        {
            "Dockerfile": (
                f"FROM {base_image}\nENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}\n"
                f"ARG GREETING\n{body}"
            ),
            "app.txt": "application\n",
        }
    )
    image = unique_image(auth_registry.host, "secrets")
    config = tmp_path / "autobuild.yml"
    config.write_text(config_text(repo.url, image, auth_registry.host))
    settings = make_settings(
        config,
        redis_url,
        tmp_path,
        SECRETS_WEBHOOK=WEBHOOK_SECRET,
        SECRETS_TRIGGER=TRIGGER_TOKEN,
        SECRETS_REG_USER=auth_registry.username,
        SECRETS_REG_PASSWORD=password,
        AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    return settings, repo, secrets


@pytest.fixture
def careless(tmp_path, redis_url, clean_redis, make_git_repo, base_image, auth_registry):
    return plant(tmp_path, redis_url, make_git_repo, base_image, auth_registry, CARELESS_STEPS)


@pytest.fixture
def probing(tmp_path, redis_url, clean_redis, make_git_repo, base_image, auth_registry):
    return plant(tmp_path, redis_url, make_git_repo, base_image, auth_registry, PROBING_STEPS)


def _answers(client, build_id: str) -> list[tuple[str, bytes]]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return [
        ("build JSON", client.get(f"/api/v1/builds/{build_id}").get_data()),
        ("build list", client.get("/api/v1/builds").get_data()),
        ("logs endpoint", client.get(f"/api/v1/builds/{build_id}/logs").get_data()),
        ("logs follow", client.get(f"/api/v1/builds/{build_id}/logs?follow=1").get_data()),
        (
            "logs SSE",
            client.get(
                f"/api/v1/builds/{build_id}/logs", headers={"Accept": "text/event-stream"}
            ).get_data(),
        ),
        ("build page", client.get(f"/builds/{build_id}", headers=admin).get_data()),
        ("retry answer", client.post(f"/api/v1/builds/{build_id}/retry", headers=admin).get_data()),
    ]


def test_secrets_printed_by_a_build_reach_no_log_answer_or_process_output(
    careless, clean_redis, caplog
):
    settings, repo, secrets = careless
    caplog.set_level(logging.DEBUG)
    client = make_app(settings).test_client()
    webhook = post_github(
        client, WEBHOOK_SECRET, github_push(REPO, "refs/heads/master", repo.head())
    )
    triggered = client.post(
        f"/api/v1/repositories/github/{REPO}/trigger",
        json={"source_type": "Branch", "source_name": "master"},
        headers={"Authorization": f"Bearer {TRIGGER_TOKEN}"},
    )
    assert webhook.status_code == 202 and triggered.status_code == 202
    build_id = triggered.get_json()["builds"][0]["id"]

    worker = run_burst_worker(settings)

    record = client.get(f"/api/v1/builds/{build_id}").get_json()
    assert record["status"] == "success", (record["error"], worker.stderr[-3000:])
    log = "\n".join(line.text for line in read_log(clean_redis, build_id))
    assert "careless step prints ****** ****** ****** and ******" in log  # it did print
    assert_absent(secrets, "the stored log", log)
    for where, body in _answers(client, build_id):
        assert_absent(secrets, where, body)
    assert_absent(secrets, "the worker's stdout", worker.stdout)
    assert_absent(secrets, "the worker's stderr", worker.stderr)
    assert "build_id=" in worker.stderr  # the process did log about the build
    web_log = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {sorted(r.__dict__.items())}" for r in caplog.records
    )
    assert_absent(secrets, "the web process's log records", web_log)


def _layers(image_tar: bytes) -> dict[str, list[str]]:
    """The file names in every layer of a ``docker save`` archive."""
    names: dict[str, list[str]] = {}
    with tarfile.open(fileobj=io.BytesIO(image_tar)) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    names[member.name] = layer.getnames()
            except tarfile.TarError:
                continue  # a config or manifest file, not a layer
    return names


def test_the_image_holds_no_secret_no_git_directory_and_no_secret_build_arg(
    probing, clean_redis, docker_api
):
    settings, repo, secrets = probing
    client = make_app(settings).test_client()
    answer = post_github(
        client, WEBHOOK_SECRET, github_push(REPO, "refs/heads/master", repo.head())
    )
    (build,) = answer.get_json()["builds"]
    worker = run_burst_worker(settings)
    record = client.get(f"/api/v1/builds/{build['id']}").get_json()
    assert record["status"] == "success", (record["error"], worker.stderr[-3000:])
    assert record["build_args"] == {"GREETING": "hello-master"}
    log = log_text(clean_redis, build["id"])
    assert "greeting=hello-master" in log
    assert "SECRETS_" not in log  # the build's environment holds none of the worker's variables

    inspected = docker_api.inspect_image(record["image_id"])
    config = inspected["Config"]
    assert_absent(secrets, "the image's environment", json.dumps(config.get("Env")))
    assert_absent(secrets, "the image's labels", json.dumps(config.get("Labels")))
    assert_absent(
        secrets, "the image's history", json.dumps(docker_api.history(record["image_id"]))
    )
    assert not any(label.startswith("SECRETS") for label in config.get("Labels") or {})

    saved = b"".join(docker_api.get_image(record["image_id"]))
    assert_absent(secrets, "the saved image (docker save)", saved)
    layers = _layers(saved)
    assert layers, "docker save held no layers"
    every_name = [name for names in layers.values() for name in names]
    assert "context/app.txt" in every_name
    assert not any(name == ".git" or "/.git" in f"/{name}" for name in every_name)


def test_a_push_with_a_wrong_password_keeps_it_out_of_the_error_log_and_output(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, auth_registry, caplog
):
    wrong = f"wrong-password-{uuid.uuid4().hex}"
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo pushing\n"})
    image = unique_image(auth_registry.host, "secrets")
    repository = make_repository(repo.url, image)
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        [RegistryAuth(auth_registry.host, "REG_USER", "REG_PASSWORD")],
        {"REG_USER": auth_registry.username, "REG_PASSWORD": wrong},
    )
    caplog.set_level(logging.DEBUG)
    record = create_record(context.store, repository, repo.head())

    status = execute_build(context, record.id)

    done = context.store.require(record.id)
    assert status == "error", done.error
    assert "refused" in done.error or "denied" in done.error or "unauthorized" in done.error.lower()
    assert_absent([wrong], "the error", done.error)
    assert_absent([wrong], "the stored log", log_text(clean_redis, record.id))
    assert_absent([wrong], "the worker's log records", caplog.text)


def test_a_token_in_a_clone_url_is_refused_by_the_loader_and_never_echoed():
    text = config_text(f"https://oauth2:{URL_TOKEN}@git.example.invalid/a/b.git", "x/y", "r:5000")
    with pytest.raises(ValueError) as raised:
        load_text(text, "autobuild.yml")
    assert "must not contain credentials" in str(raised.value)
    assert_absent([URL_TOKEN], "the loader's message", str(raised.value))


def test_a_clone_url_with_a_token_fails_the_fetch_without_showing_it(
    tmp_path, redis_url, clean_redis, registry_url, caplog
):
    """As if the loader's check were bypassed: the worker and the trigger still mask it."""
    url = f"https://oauth2:{URL_TOKEN}@127.0.0.1:1/octo/private.git"
    repository = make_repository(url, unique_image(registry_url, "secrets"), name=REPO)
    repository = replace(repository, trigger_token_env="SECRETS_TRIGGER")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    caplog.set_level(logging.DEBUG)
    record = create_record(context.store, repository, "b" * 40)

    status = execute_build(context, record.id)

    done = context.store.require(record.id)
    assert status == "error" and "127.0.0.1" in done.error
    assert_absent([URL_TOKEN], "the error", done.error)
    assert_absent([URL_TOKEN], "the stored log", log_text(clean_redis, record.id))
    assert_absent([URL_TOKEN], "the worker's log records", caplog.text)

    settings = make_settings(
        tmp_path / "unused.yml", redis_url, tmp_path, SECRETS_TRIGGER=TRIGGER_TOKEN
    )
    client = create_app(settings, Config(repositories=(repository,))).test_client()
    answer = client.post(
        f"/api/v1/repositories/github/{REPO}/trigger",
        headers={"Authorization": f"Bearer {TRIGGER_TOKEN}"},
    )
    assert answer.status_code == 502
    assert_absent([URL_TOKEN], "the trigger's answer", answer.get_data())
    assert_absent([URL_TOKEN], "the web's log records", caplog.text)


def test_a_git_helper_that_prints_a_secret_has_it_masked_in_the_fetch_error(
    tmp_path, redis_url, clean_redis, registry_url
):
    """A token planted in the worker's environment (an ssh command that prints it, as a verbose
    credential helper might) comes back in git's error: it is masked there."""
    helper = f"sh -c 'echo \"fatal: helper: token {WEBHOOK_SECRET} refused\" >&2; exit 255'"
    repository = make_repository(
        "ssh://git@127.0.0.1/octo/private.git", unique_image(registry_url, "secrets"), name=REPO
    )
    repository = replace(repository, webhook_secret_env="SECRETS_WEBHOOK")
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={"GIT_SSH_COMMAND": helper, "SECRETS_WEBHOOK": WEBHOOK_SECRET},
    )
    record = create_record(context.store, repository, "c" * 40)

    status = execute_build(context, record.id)

    done = context.store.require(record.id)
    assert status == "error"
    log = log_text(clean_redis, record.id)
    assert "helper: token ****** refused" in done.error  # git relayed it; it was masked
    assert_absent([WEBHOOK_SECRET], "the error", done.error)
    assert_absent([WEBHOOK_SECRET], "the stored log", log)


def test_an_exception_in_the_web_process_is_logged_masked_and_answered_generically(
    tmp_path, redis_url, clean_redis, make_git_repo, registry_url, monkeypatch, caplog
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    config = tmp_path / "autobuild.yml"
    config.write_text(
        config_text(repo.url, unique_image(registry_url, "secrets"), "127.0.0.1:5999")
    )
    settings = make_settings(
        config,
        redis_url,
        tmp_path,
        SECRETS_WEBHOOK=WEBHOOK_SECRET,
        SECRETS_TRIGGER=TRIGGER_TOKEN,
        SECRETS_REG_USER="someone",
        SECRETS_REG_PASSWORD="registry-password-0123",
        AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    app = make_app(settings)
    app.testing = False  # as in production: the error handler answers, nothing propagates

    def explode(*_args, **_kwargs):
        raise RuntimeError(
            f"connection string redis://:{TRIGGER_TOKEN}@db carried {WEBHOOK_SECRET}"
        )

    monkeypatch.setattr("app.webhooks.dispatch", explode)
    caplog.set_level(logging.DEBUG)
    answer = post_github(
        app.test_client(), WEBHOOK_SECRET, github_push(REPO, "refs/heads/master", repo.head())
    )

    assert answer.status_code == 500
    assert answer.get_json() == {
        "error": "Autobuild hit an internal error; the server log has details."
    }
    (logged,) = [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
    text = logged.getMessage()
    assert "RuntimeError: connection string redis://:******@db carried ******" in text
    assert_absent([WEBHOOK_SECRET, TRIGGER_TOKEN], "the web's log", caplog.text)


def test_an_exception_in_the_worker_is_recorded_and_logged_masked(
    tmp_path, redis_url, clean_redis, make_git_repo, base_image, registry_url, caplog
):
    secret = f"daemon-secret-{uuid.uuid4().hex}"
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\n"})
    repository = replace(
        make_repository(repo.url, unique_image(registry_url, "secrets")),
        webhook_secret_env="SECRETS_WEBHOOK",
    )

    def broken_docker(*_args):
        raise RuntimeError(f"unexpected: the daemon said {secret}")

    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={"SECRETS_WEBHOOK": secret},
        docker=broken_docker,
    )
    caplog.set_level(logging.DEBUG)
    record = create_record(context.store, repository, repo.head())

    status = execute_build(context, record.id)

    done = context.store.require(record.id)
    assert status == "error"
    assert_absent([secret], "the error", done.error)
    assert_absent([secret], "the stored log", log_text(clean_redis, record.id))
    assert "the daemon said ******" in caplog.text  # the traceback was logged, masked
    assert_absent([secret], "the worker's log records", caplog.text)
