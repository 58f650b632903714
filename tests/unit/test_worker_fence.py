"""What the fence before a push (worker/fence.py) accepts as a yes from the values Redis gave:
nothing but this attempt, running, with its own heartbeat token and tag locks."""

from __future__ import annotations

from core.build import BuildStatus
from tests.unit.test_build_record import make_record
from worker.errors import classify
from worker.fence import FenceUnconfirmedError, Lease, LeaseLostError, refusal

TOKEN = "1:host-1:42"
LOCK = Lease("autobuild:tag-lock:img:latest", "abc:1")


def raw(attempt: int = 1, status: BuildStatus = BuildStatus.PUSHING) -> bytes:
    return make_record(attempt=attempt, status=status).dumps().encode()


def test_only_this_running_attempt_with_its_own_token_and_locks_is_confirmed():
    assert refusal([raw(), TOKEN.encode(), b"abc:1"], 1, TOKEN, [LOCK]) is None
    assert refusal([raw(), TOKEN.encode()], 1, TOKEN, []) is None


def test_every_other_answer_is_a_refusal_that_says_why():
    cases = {
        "the build record is gone": [None, TOKEN.encode()],
        "the build was queued again as attempt 2": [raw(attempt=2), TOKEN.encode()],
        "the build is canceled": [raw(status=BuildStatus.CANCELED), TOKEN.encode()],
        "the build is queued": [raw(status=BuildStatus.QUEUED), TOKEN.encode()],
        "its heartbeat lease has expired": [raw(), None],
        "its heartbeat lease is held by '2:host-2:7', not by this attempt": [raw(), b"2:host-2:7"],
    }
    for reason, values in cases.items():
        assert refusal(values, 1, TOKEN, []) == reason
    lost = f"it no longer holds {LOCK.key}"
    assert refusal([raw(), TOKEN.encode(), None], 1, TOKEN, [LOCK]) == lost
    assert refusal([raw(), TOKEN.encode(), b"other:2"], 1, TOKEN, [LOCK]) == lost


def test_a_lost_lease_stops_quietly_and_an_unconfirmed_one_is_a_retryable_error():
    lost = LeaseLostError("the build was queued again as attempt 2", "pushing img:latest")
    assert str(lost) == "Did not start pushing img:latest: the build was queued again as attempt 2."
    during = LeaseLostError("gone", "building the image", before=False)
    assert str(during) == "Stopped while building the image: gone."
    unconfirmed = classify(FenceUnconfirmedError("Did not start pushing img:latest: no Redis"))
    assert (unconfirmed.status, unconfirmed.retryable) == (BuildStatus.ERROR, True)
