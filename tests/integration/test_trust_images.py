"""The Images page, `GET /api/v1/images`, `autobuild images` and the provenance endpoint, on a
real build in the real registry beside a tag pushed by hand (the page in Chromium too)."""

from __future__ import annotations

import textwrap
import uuid

import pytest

from cli.main import main as cli_main
from tests.integration.browser_helpers import (
    chromium_browser,
    live_server,
    new_page,
    screenshot,
    wait_until,
)
from tests.integration.trust_helpers import (
    dockerfile,
    keygen,
    own_registry,
    push_by_hand,
    run_build,
)
from tests.integration.webhook_helpers import make_app
from tests.integration.webhook_helpers import make_settings as app_settings
from tests.integration.worker_helpers import make_context, make_repository, unique_image

pytestmark = pytest.mark.integration


@pytest.fixture
def pushed(tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url):
    """A signed build of ``latest`` and a ``manual`` tag pushed by hand, and the web app."""
    image = unique_image(registry_url, "images")
    name = f"octo/images-{uuid.uuid4().hex[:8]}"
    private, _public = keygen(tmp_path)
    repo = make_git_repo({"Dockerfile": dockerfile(base_image)})
    repository = make_repository(repo.url, image, name=name)
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository],
        environ={"AUTOBUILD_SIGNING_KEY": str(private)},
    )  # fmt: skip
    record = run_build(context, repository, repo.head())
    manual = push_by_hand(docker_api, base_image, image, "manual")
    config = tmp_path / "web.yml"
    config.write_text(
        textwrap.dedent(
            f"""\
            repositories:
              - provider: github
                name: {name}
                clone_url: {repo.url}
                image: {image}
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
            """
        )
    )
    app = make_app(app_settings(config, redis_url, tmp_path))
    return {"app": app, "record": record, "manual": manual, "image": image, "name": name}


def test_the_images_api_lists_tags_with_their_build_or_as_pushed_from_elsewhere(pushed):
    client = pushed["app"].test_client()
    response = client.get("/api/v1/images")
    assert response.status_code == 200
    (image,) = [i for i in response.json["images"] if i["image"] == pushed["image"]]
    assert image["error"] is None
    tags = {tag["tag"]: tag for tag in image["tags"]}
    assert set(tags) == {"latest", "manual"}  # the cosign tags are not images
    latest, manual = tags["latest"], tags["manual"]
    record = pushed["record"]
    assert latest["digest"] == record.digest
    assert latest["origin"] == "autobuild" and latest["signed"] and latest["provenance"]
    assert latest["build"]["id"] == record.id and latest["build"]["commit"] == record.commit
    assert latest["platforms"] == ["linux/amd64"] and latest["size"] > 0
    assert latest["pushed_at"]
    assert manual["digest"] == pushed["manual"]
    assert manual["origin"] == "elsewhere" and manual["build"] is None and not manual["signed"]


def test_the_provenance_endpoint_serves_the_statement_of_a_build(pushed):
    client = pushed["app"].test_client()
    record = pushed["record"]
    response = client.get(f"/api/v1/builds/{record.id}/provenance")
    assert response.status_code == 200
    assert response.json["signed"] is True
    statement = response.json["statement"]
    assert statement["subject"][0]["digest"] == {"sha256": record.digest.split(":")[1]}
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["commit"] == record.commit
    missing = client.get(f"/api/v1/builds/{uuid.uuid4().hex}/provenance")
    assert missing.status_code == 404


def test_the_repository_images_page_shows_the_dockerfile_and_the_history(pushed):
    client = pushed["app"].test_client()
    response = client.get(f"/images/github/{pushed['name']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "FROM " in page and "/built" in page  # the Dockerfile of the latest build
    assert "echo" in page and "busybox" in page  # the image history from the config blob


def test_autobuild_images_prints_each_tag_and_where_it_came_from(pushed, monkeypatch, capsys):
    with live_server(pushed["app"]) as server:
        monkeypatch.setenv("AUTOBUILD_URL", server.url)
        assert cli_main(["images", "--repository", pushed["name"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    manual = [line for line in lines if " manual " in line]
    latest = [line for line in lines if " latest " in line]
    assert manual and "pushed from elsewhere" in manual[0]
    assert latest and pushed["record"].commit[:7] in latest[0] and "signed" in latest[0]


def test_the_images_page_in_chromium_marks_the_tag_pushed_by_hand(pushed):
    with chromium_browser() as browser, live_server(pushed["app"]) as server:
        page = new_page(browser)
        page.goto(f"{server.url}/images")
        selector = f'table[data-image="{pushed["image"]}"]'
        wait_until(page, f"document.querySelectorAll('{selector} tbody tr').length == 2")
        manual = page.locator(f'{selector} tr[data-tag="manual"]')
        latest = page.locator(f'{selector} tr[data-tag="latest"]')
        assert manual.get_attribute("data-origin") == "elsewhere"
        assert "pushed from elsewhere" in manual.inner_text()
        assert latest.get_attribute("data-origin") == "autobuild"
        assert pushed["record"].commit[:7] in latest.inner_text()
        assert "signed" in latest.locator("td.signed").inner_text()
        screenshot(page, "images")
        assert page.js_errors == []


def test_the_images_api_lists_registry_repositories_no_configuration_names(
    tmp_path, redis_url, clean_redis, docker_api, base_image
):
    with own_registry(tmp_path / "registry", delete=False) as host:
        push_by_hand(docker_api, base_image, f"{host}/team/configured", "v1")
        push_by_hand(docker_api, base_image, f"{host}/someone/else", "latest")
        config = tmp_path / "web.yml"
        config.write_text(
            textwrap.dedent(
                f"""\
                repositories:
                  - provider: github
                    name: team/configured
                    clone_url: https://git.example.test/team/configured.git
                    image: {host}/team/configured
                    build_rules:
                      - source_type: branch
                        source: master
                        docker_tag: latest
                """
            )
        )
        client = make_app(app_settings(config, redis_url, tmp_path)).test_client()
        body = client.get("/api/v1/images").json
        page = client.get("/images").get_data(as_text=True)
    assert body["registries"] == [
        {"host": host, "other_repositories": ["someone/else"], "catalog_hidden": False,
         "error": None}
    ]  # fmt: skip
    (image,) = body["images"]
    assert [(t["tag"], t["origin"]) for t in image["tags"]] == [("v1", "elsewhere")]
    assert "someone/else" in page and "pushed from elsewhere" in page
