"""Sending one HTTP request to a notification target: a timeout, no redirects followed (a
target cannot send our payload or token elsewhere), and an answer for a person that never
repeats the URL (it may hold a token) nor the receiver's body."""

from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class Reply:
    ok: bool
    answer: str  # "HTTP 201", "timed out after 10 s", "connection refused", ...


def post(
    session: requests.Session, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> Reply:
    try:
        response = session.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.Timeout:
        return Reply(False, f"timed out after {timeout:g} s")
    except requests.ConnectionError as error:
        refused = "refused" in str(error).lower()
        return Reply(False, "connection refused" if refused else "could not connect")
    except requests.RequestException as error:
        return Reply(False, f"request failed ({type(error).__name__})")
    with response:
        code = response.status_code
    if 300 <= code < 400:
        return Reply(False, f"HTTP {code}: a redirect, not followed")
    return Reply(200 <= code < 300, f"HTTP {code}")
