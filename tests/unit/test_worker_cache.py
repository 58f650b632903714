"""The layer cache decisions: which images are asked for, and what the build is given."""

from __future__ import annotations

from worker.cache import CacheSource, SourceState, cache_references, decide

IMAGE = "127.0.0.1:5000/team/app"
OWN = (IMAGE, "127.0.0.1:5000/team/app-docs")
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64


def test_the_candidates_are_the_builds_own_tags_first_tag_first_without_repeats():
    refs = cache_references(IMAGE, ("1.2.3", "1.2", "1.2.3", "latest"), OWN)
    assert refs == (f"{IMAGE}:1.2.3", f"{IMAGE}:1.2", f"{IMAGE}:latest")


def test_at_most_a_few_tags_are_asked_for():
    tags = tuple(f"t{n}" for n in range(10))
    assert cache_references(IMAGE, tags, OWN, limit=4) == tuple(f"{IMAGE}:t{n}" for n in range(4))


def test_an_image_that_is_not_the_repositorys_own_is_never_a_cache_source():
    assert cache_references("127.0.0.1:5000/someone/else", ("latest",), OWN) == ()
    assert cache_references("docker.io/library/busybox", ("latest",), OWN) == ()


def test_build_caching_false_means_nocache_and_nothing_named():
    cache = decide(False, [CacheSource(f"{IMAGE}:latest", SourceState.PULLED, DIGEST)])
    assert cache.nocache is True
    assert cache.cache_from == ()
    assert "off (build_caching: false)" in cache.summary


def test_a_pulled_image_is_named_in_cache_from():
    cache = decide(True, [CacheSource(f"{IMAGE}:latest", SourceState.PULLED, DIGEST)])
    assert cache.nocache is False
    assert cache.cache_from == (f"{IMAGE}:latest",)
    assert "pulled from the registry" in cache.summary
    assert f"{IMAGE}:latest" in cache.summary


def test_an_image_the_daemon_already_has_needs_no_cache_from():
    # The daemon's own cache has it (and more: intermediate stages); naming it would restrict the
    # cache to its chain.
    cache = decide(True, [CacheSource(f"{IMAGE}:latest", SourceState.LOCAL, DIGEST)])
    assert cache.cache_from == ()
    assert "this worker's own" in cache.summary and "already has" in cache.summary


def test_with_something_pulled_the_images_the_daemon_has_are_named_too_by_digest():
    cache = decide(
        True,
        [
            CacheSource(f"{IMAGE}:1.2", SourceState.PULLED, OTHER_DIGEST),
            CacheSource(f"{IMAGE}:latest", SourceState.LOCAL, DIGEST),
        ],
    )
    assert cache.cache_from == (f"{IMAGE}:1.2", f"{IMAGE}@{DIGEST}")


def test_a_missing_tag_is_not_an_error_and_names_nothing():
    # cache_from an image the daemon does not have would switch its whole local cache off.
    cache = decide(True, [CacheSource(f"{IMAGE}:latest", SourceState.MISSING)])
    assert cache.nocache is False and cache.cache_from == ()
    assert "not in the registry yet" in cache.summary


def test_a_failed_pull_is_reported_and_the_build_goes_on_without_it():
    cache = decide(
        True,
        [CacheSource(f"{IMAGE}:latest", SourceState.FAILED, DIGEST, "manifest unknown")],
    )
    assert cache.nocache is False and cache.cache_from == ()
    assert "not using" in cache.summary and "manifest unknown" in cache.summary


def test_failures_beside_a_pulled_image_are_reported_and_the_pulled_one_is_used():
    cache = decide(
        True,
        [
            CacheSource(f"{IMAGE}:latest", SourceState.PULLED, DIGEST),
            CacheSource(f"{IMAGE}:edge", SourceState.FAILED, OTHER_DIGEST, "denied"),
        ],
    )
    assert cache.cache_from == (f"{IMAGE}:latest",)


def test_no_candidates_at_all_is_the_workers_own_cache():
    cache = decide(True, [])
    assert cache == decide(True, ())
    assert cache.cache_from == () and cache.nocache is False
