"""A step that fails because the Docker daemon stopped under it is the daemon's failure (``error``,
retried), not the repository's (``failed``)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from worker.deadline import Deadline
from worker.docker_build import BuildRequest, build_image
from worker.errors import DaemonError, DockerBuildError

KILLED = {
    "error": "The command '/bin/sh -c sleep 60' returned a non-zero code: 137",
    "errorDetail": {"code": 137, "message": "The command ... returned a non-zero code: 137"},
}


class FakeAPI:
    """A build stream whose step was killed; the daemon answers a ping afterwards or not."""

    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.closed = 0

    def build(self, **_kwargs: Any) -> list[dict[str, Any]]:
        return [{"stream": "Step 1/1 : RUN sleep 60\n"}, KILLED]

    def close(self) -> None:
        self.closed += 1

    def ping(self) -> bool:
        if not self.answers:
            raise requests.exceptions.ConnectionError("No such file or directory")
        return True


def run(tmp_path, api: FakeAPI) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    request = BuildRequest(tmp_path, "Dockerfile", "127.0.0.1:5000/a/b", ("latest",))
    build_image(api, request, Deadline(60), on_line=lambda _line: None)


def test_a_step_killed_while_the_daemon_stops_is_a_daemon_error(tmp_path):
    api = FakeAPI(answers=False)
    with pytest.raises(DaemonError) as raised:
        run(tmp_path, api)
    assert raised.value.message.startswith("Docker daemon unreachable: it stopped during the build")
    assert "non-zero code: 137)" in raised.value.message
    assert api.closed == 1  # asked over a new connection, not a pooled one the daemon still serves


def test_a_step_killed_while_the_daemon_answers_is_the_repositorys_failure(tmp_path):
    with pytest.raises(DockerBuildError) as raised:
        run(tmp_path, FakeAPI(answers=True))
    assert "non-zero code: 137" in raised.value.message
