"""Masking is no guessing oracle, on the real daemon: a ``RUN`` step of repository B that prints
repository A's webhook secret and the admin token finds them stored as printed (nothing tells it
they are right), while B's own webhook secret and its registry's password are masked."""

from __future__ import annotations

import uuid

import pytest

from buildrules.model import RegistryAuth
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

A_WEBHOOK = f"a-webhook-{uuid.uuid4().hex}"
B_WEBHOOK = f"b-webhook-{uuid.uuid4().hex}"
B_REGISTRY_PASSWORD = f"b-registry-{uuid.uuid4().hex}"
ADMIN_TOKEN = f"admin-{uuid.uuid4().hex}"


def test_a_build_log_masks_its_own_secrets_but_confirms_no_guess_of_others(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    printed = f"guesses {A_WEBHOOK} {ADMIN_TOKEN} own {B_WEBHOOK} {B_REGISTRY_PASSWORD} end"
    repo = make_git_repo(
        {"Dockerfile": f"FROM {base_image}\nRUN echo {uuid.uuid4().hex}; echo '{printed}'\n"}
    )
    a = make_repository(
        "file:///nonexistent/a.git", "other.example:5000/team/a", webhook_secret_env="A_HOOK"
    )
    b = make_repository(repo.url, unique_image(registry_url), webhook_secret_env="B_HOOK")
    registry = RegistryAuth(
        host=registry_url, username_env="B_REGISTRY_USER", password_env="B_REGISTRY_PASSWORD"
    )
    environ = {
        "A_HOOK": A_WEBHOOK,
        "B_HOOK": B_WEBHOOK,
        "B_REGISTRY_USER": "b-registry-user-name",
        "B_REGISTRY_PASSWORD": B_REGISTRY_PASSWORD,
        "AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    context = make_context(tmp_path, redis_url, clean_redis, [a, b], [registry], environ)
    record = create_record(context.store, b, repo.head())

    assert execute_build(context, record.id) == "success", context.store.require(record.id).error

    log = log_text(clean_redis, record.id)
    assert f"guesses {A_WEBHOOK} {ADMIN_TOKEN} own ****** ****** end" in log
    assert context.masker.mask(printed) == "guesses ****** ****** own ****** ****** end"
