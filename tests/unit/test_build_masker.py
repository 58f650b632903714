"""A build's log is masked with the secrets that build could have seen (its repository's and its
registry's credentials), never another repository's nor the admin token: masking build output is
an oracle for every secret it hides."""

from __future__ import annotations

import textwrap
from pathlib import Path

from buildrules.loader import load_text
from buildrules.model import Config
from core.masking import MASK, build_masker_for, masker_for
from core.settings import Settings

CONFIG = textwrap.dedent(
    """
    registries:
      - host: registry-a.example:5000
        username_env: REG_A_USER
        password_env: REG_A_PASS
      - host: registry-b.example:5000
        username_env: REG_B_USER
        password_env: REG_B_PASS
    repositories:
      - provider: github
        name: team/a
        clone_url: https://git.example/team/a.git
        image: registry-a.example:5000/team/a
        webhook_secret_env: A_WEBHOOK
        trigger_token_env: A_TRIGGER
        secrets: {NPM: A_NPM}
        build_rules: [{source_type: branch, source: master, docker_tag: latest}]
      - provider: github
        name: team/b
        clone_url: https://git.example/team/b.git
        image: registry-b.example:5000/team/b
        webhook_secret_env: B_WEBHOOK
        build_rules:
          - {source_type: branch, source: master, docker_tag: latest, secrets: {KEY: B_KEY}}
    """
)
VALUES = {
    "REG_A_USER": "team-a-bot-user-name",
    "REG_A_PASS": "Summer2024!-registry-a",
    "REG_B_USER": "team-b-bot-user-name",
    "REG_B_PASS": "b-registry-pass-77-xyz",
    "A_WEBHOOK": "a-webhook-secret-0123456789",
    "A_TRIGGER": "a-trigger-token-0123456789",
    "A_NPM": "a-npm-build-secret-012345",
    "B_WEBHOOK": "b-webhook-secret-0123456789",
    "B_KEY": "b-rule-build-secret-012345",
    "AUTOBUILD_ADMIN_TOKEN": "admin-token-0123456789abcdef",
}


def setup() -> tuple[Settings, Config]:
    settings = Settings.from_env({**VALUES, "AUTOBUILD_CONFIG": str(Path("x.yml"))})
    return settings, load_text(CONFIG, "autobuild.yml")


def test_a_build_log_hides_its_own_repository_and_registry_secrets_only():
    settings, config = setup()
    masker = build_masker_for(settings, config, "github", "team/b")
    own = ("B_WEBHOOK", "B_KEY", "REG_B_USER", "REG_B_PASS")
    for name, value in VALUES.items():
        shown = masker.mask(f"guess {value} end")
        if name in own:
            assert shown == f"guess {MASK} end", name
        else:  # another repository's, another registry's, the admin token: not confirmed
            assert shown == f"guess {value} end", name


def test_the_process_masker_still_hides_every_secret():
    settings, config = setup()
    masker = masker_for(settings, config)
    assert all(MASK in masker.mask(value) for value in VALUES.values())


def test_an_unknown_repository_gets_a_masker_for_credentials_in_urls_only():
    settings, config = setup()
    masker = build_masker_for(settings, config, "github", "team/gone")
    assert masker.mask(VALUES["A_WEBHOOK"]) == VALUES["A_WEBHOOK"]
    assert masker.mask("https://u:p@h/x") == f"https://{MASK}@h/x"
