import base64
import time
from urllib.parse import quote

import pytest

from core.masking import MASK, Masker

SECRET = "s3cr3t/value+with=chars"


def test_raw_secret_is_masked():
    assert Masker([SECRET]).mask(f"token {SECRET} here") == f"token {MASK} here"


def test_url_encoded_secret_is_masked():
    assert SECRET not in Masker([SECRET]).mask(quote(SECRET, safe=""))
    assert quote(SECRET, safe="") not in Masker([SECRET]).mask(f"x={quote(SECRET, safe='')}")


def test_base64_secret_is_masked_at_any_alignment():
    masker = Masker([SECRET])
    for prefix in ("", "a", "ab", "user:"):
        encoded = base64.b64encode((prefix + SECRET).encode()).decode()
        masked = masker.mask(encoded)
        assert MASK in masked
        # nothing long enough to decode back to the secret survives
        assert base64.b64encode(SECRET.encode()).decode()[4:-4] not in masked


def test_credentials_in_urls_are_masked_even_when_unknown():
    masked = Masker().mask("fatal: could not read from https://bob:hunter22@git.example/x.git")
    assert "hunter22" not in masked and "bob" not in masked
    assert "https://******@git.example/x.git" in masked


def test_text_without_secrets_is_unchanged():
    assert Masker([SECRET]).mask("Step 1/3 : FROM scratch") == "Step 1/3 : FROM scratch"


def test_very_short_secrets_are_not_masked_everywhere():
    assert Masker(["ab"]).mask("abc cab") == "abc cab"


class NamedSecrets:
    def secret_env_names(self) -> tuple[str, ...]:
        return ("REGISTRY_PASSWORD", "UNSET_SECRET")


def test_a_process_masker_hides_every_named_secret_that_is_set_and_the_admin_token():
    from pathlib import Path

    from core.masking import masker_for
    from core.settings import Settings

    environ = {
        "REGISTRY_PASSWORD": "hunter2-registry",
        "AUTOBUILD_ADMIN_TOKEN": "admin-token-1-0123456789",
    }
    settings = Settings.from_env({**environ, "AUTOBUILD_CONFIG": str(Path("x.yml"))})
    masker = masker_for(settings, NamedSecrets())
    text = masker.mask("pw hunter2-registry token admin-token-1-0123456789 other UNSET_SECRET")
    assert text == f"pw {MASK} token {MASK} other UNSET_SECRET"


def test_credentials_after_a_scheme_are_masked_wherever_the_scheme_starts():
    masker = Masker()
    assert masker.mask("git+ssh://git:pw@h/x") == f"git+ssh://{MASK}@h/x"
    assert masker.mask("url=s3://key:secret@bucket") == f"url=s3://{MASK}@bucket"
    assert masker.mask("a://b plain :// x@y") == "a://b plain :// x@y"  # no credentials
    assert masker.mask(("x" * 40) + "://u:p@h") == "x" * 40 + f"://{MASK}@h"


@pytest.mark.parametrize(
    "text",
    [
        "A" * (1 << 20),  # the review's line: a long letter run without ://
        "a://" * (1 << 18),
        ("a" * 40 + "://b:") * 20_000,
        "x://y:" + "z" * (1 << 20),
        SECRET[:-1] * 50_000,
    ],
    ids=["letters", "schemes", "schemes-with-colons", "long-password", "near-secret"],
)
def test_masking_a_one_mib_line_takes_linear_time(text):
    masker = Masker([SECRET, "whsec-3f9a1c77e2b54d0c"])
    started = time.perf_counter()
    masker.mask(text)
    assert time.perf_counter() - started < 2  # a hang guard only: bench/loglines.py times it
