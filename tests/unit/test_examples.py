"""Every example configuration in examples/ loads, and does what its comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildrules.loader import load
from buildrules.matcher import match, plans_for_ref
from buildrules.model import Config
from core.events import PushEvent, RefType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHA = "9" * 40


def example(name: str) -> Config:
    return load(EXAMPLES / name)


def push(cfg: Config, ref: str, ref_type: RefType = RefType.BRANCH, **kwargs: object) -> PushEvent:
    repository = cfg.repositories[0]
    return PushEvent(
        provider=repository.provider,
        repository=repository.name,
        ref_type=ref_type,
        ref_name=ref,
        commit=SHA,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    assert load(path).repositories


def test_examples_directory_loads_as_one_configuration() -> None:
    assert len(load(EXAMPLES).repositories) == len(list(EXAMPLES.glob("*.yml")))


def test_semver_example_is_one_build_with_four_tags() -> None:
    cfg = example("semver.yml")
    (plan,) = match(cfg, push(cfg, "v1.2.3", RefType.TAG)).plans
    assert plan.docker_tags == ("1.2.3", "1.2", "1", "latest")
    assert dict(plan.build_args) == {"VERSION": "1.2.3", "REVISION": SHA}


def test_semver_example_prereleases_do_not_move_latest() -> None:
    cfg = example("semver.yml")
    (plan,) = match(cfg, push(cfg, "v2.0.0-rc.1", RefType.TAG)).plans
    assert plan.docker_tags == ("2.0.0-rc.1",)


def test_semver_example_main_branch_builds_edge() -> None:
    cfg = example("semver.yml")
    (plan,) = match(cfg, push(cfg, "main")).plans
    assert plan.docker_tags == ("edge", "sha-9999999")


def test_monorepo_example_builds_only_the_image_whose_files_changed() -> None:
    cfg = example("monorepo.yml")
    (api,) = match(cfg, push(cfg, "main", changed_files=("services/api/app.py",))).plans
    assert api.image == "registry.example.com/acme/api" and api.context == "/services/api"
    (web,) = match(cfg, push(cfg, "main", changed_files=("services/web/index.js",))).plans
    assert web.image == "registry.example.com/acme/web"
    assert (web.context, web.dockerfile) == ("/services/web", "docker/Dockerfile")
    assert dict(web.build_args) == {"GIT_COMMIT": SHA, "PUBLIC_URL": "https://www.example.com"}


def test_monorepo_example_shared_library_builds_both_images() -> None:
    cfg = example("monorepo.yml")
    plans = match(cfg, push(cfg, "main", changed_files=("lib/auth.py",))).plans
    assert [p.image for p in plans] == [
        "registry.example.com/acme/api",
        "registry.example.com/acme/web",
    ]


def test_monorepo_example_docs_only_push_builds_nothing() -> None:
    cfg = example("monorepo.yml")
    result = match(
        cfg, push(cfg, "main", changed_files=("docs/setup.txt", "services/api/README.md"))
    )
    assert result.plans == () and result.reason == "changes only touch ignored paths"


@pytest.mark.parametrize(
    ("branch", "tags", "env"),
    [
        ("develop", ("dev",), "development"),
        ("staging", ("staging",), "staging"),
        ("feature/login", ("preview-feature-login",), "preview"),
    ],
)
def test_environments_example_maps_branches_to_tags(
    branch: str, tags: tuple[str, ...], env: str
) -> None:
    cfg = example("environments.yml")
    (plan,) = match(cfg, push(cfg, branch)).plans
    assert plan.docker_tags == tags and dict(plan.build_args) == {"APP_ENV": env}
    assert plan.dockerfile == "deploy/Dockerfile"


def test_environments_example_production_is_manual_only() -> None:
    cfg = example("environments.yml")
    assert match(cfg, push(cfg, "production")).plans == ()
    (plan,) = plans_for_ref(cfg.repositories[0], RefType.BRANCH, "production", SHA)
    assert plan.docker_tags == ("prod", "latest")


def test_notifications_example_has_a_status_a_signed_hook_and_a_chat_for_main() -> None:
    config = load(EXAMPLES / "notifications.yml")
    (shop,) = config.repositories
    assert shop.status and shop.status_token_env == "SHOP_STATUS_TOKEN"
    hook, hub, chat = config.notify_targets(shop)
    assert hook.secret_env and hook.events == ("build.succeeded",)
    assert hub.format == "dockerhub"
    assert chat.apprise_env == "TEAM_CHAT_URL" and chat.branches == ("main",)
