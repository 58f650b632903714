"""One request to a notification target, against loopback servers: redirects are not followed,
a silent receiver times out, and the answer never repeats the URL."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.integration.notify_helpers import Receiver
from worker.notify.sender import post

pytestmark = pytest.mark.integration


@pytest.fixture
def session():
    with requests.Session() as made:
        made.trust_env = False
        yield made


def test_a_redirect_to_another_host_is_not_followed(session):
    elsewhere = Receiver((200,))
    redirecting = Receiver((307,), location=elsewhere.url + "/stolen")
    try:
        reply = post(session, redirecting.url + "/hook?token=t0k3n", b"{}", {}, 5)
        assert not reply.ok
        assert reply.answer == "HTTP 307: a redirect, not followed"
        assert len(redirecting.received) == 1 and elsewhere.received == []
    finally:
        elsewhere.close()
        redirecting.close()


def test_a_receiver_that_never_answers_times_out(session):
    silent = Receiver((0,))
    try:
        reply = post(session, silent.url + "/hook", b"{}", {}, 0.5)
        assert reply == reply.__class__(False, "timed out after 0.5 s")
    finally:
        silent.close()


def test_a_closed_port_is_connection_refused_without_the_url(session):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reply = post(session, f"http://127.0.0.1:{port}/hook?token=t0k3n", b"{}", {}, 2)
    assert reply.answer == "connection refused" and "t0k3n" not in reply.answer
