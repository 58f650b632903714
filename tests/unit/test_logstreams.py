"""The log stream limiter: places per process and per client, each given back once."""

from __future__ import annotations

from app.logstreams import StreamLimiter


def test_streams_are_refused_past_the_per_client_and_the_total_limit() -> None:
    limiter = StreamLimiter(total=3, per_client=2)
    first = [limiter.acquire("10.0.0.1") for _ in range(2)]
    assert all(first)
    assert limiter.acquire("10.0.0.1") is None  # its share
    assert limiter.acquire("10.0.0.2") is not None
    assert limiter.acquire("10.0.0.3") is None  # the process's limit


def test_a_place_is_given_back_once_however_often_it_is_released() -> None:
    limiter = StreamLimiter(total=2, per_client=2)
    slot = limiter.acquire("a")
    assert slot is not None
    slot.release()
    slot.release()
    assert (limiter.open, dict(limiter.clients)) == (0, {})
    assert limiter.acquire("a") is not None and limiter.acquire("a") is not None
    assert limiter.acquire("a") is None


def test_a_limit_of_zero_refuses_every_stream() -> None:
    assert StreamLimiter(total=0, per_client=4).acquire("a") is None
