"""The build page lists a multi-platform build's platforms and their pushed digests."""

from __future__ import annotations

import pytest

from core.store import BuildStore
from tests.integration.browser_helpers import (
    ADMIN_TOKEN,
    SECRET,
    add_record,
    run_fake_build,
    write_ui_config,
)
from tests.integration.webhook_helpers import make_app, make_settings

pytestmark = pytest.mark.integration
ARM = "sha256:" + "a" * 64


@pytest.fixture
def client(tmp_path, redis_url, clean_redis):
    settings = make_settings(
        write_ui_config(tmp_path),
        redis_url,
        tmp_path,
        UI_WEBHOOK_SECRET=SECRET,
        AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    return make_app(settings).test_client()


def test_the_build_page_and_api_show_platforms_and_their_digests(client, clean_redis):
    store = BuildStore(clean_redis)
    record = run_fake_build(store, add_record(store))
    store.update(
        record.id,
        platforms=("linux/amd64", "linux/arm64"),
        platform_digests=(("linux/arm64", ARM),),
    )

    html = client.get(f"/builds/{record.id}").get_data(as_text=True)
    api = client.get(f"/api/v1/builds/{record.id}").json

    assert "<dt>Platforms</dt>" in html
    assert "<code>linux/amd64</code>" in html and "<code>linux/arm64</code>" in html
    assert f'title="{ARM}"' in html
    assert api["platforms"] == ["linux/amd64", "linux/arm64"]
    assert api["platform_digests"] == {"linux/arm64": ARM}


def test_a_single_platform_build_page_has_no_platforms_row(client, clean_redis):
    store = BuildStore(clean_redis)
    record = run_fake_build(store, add_record(store))
    assert "<dt>Platforms</dt>" not in client.get(f"/builds/{record.id}").get_data(as_text=True)
