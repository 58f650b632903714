"""Dockerfile syntax that needs BuildKit, found before a legacy build."""

from __future__ import annotations

import pytest

from worker.buildkit.features import buildkit_features, require_legacy_syntax
from worker.errors import UserBuildError


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("RUN --mount=type=cache,target=/root/.cache pip install .", "RUN --mount"),
        ("run --mount type=secret,id=npm npm ci", "RUN --mount"),
        ("RUN --network=none make", "RUN --network"),
        ("COPY --link . /src", "COPY --link"),
        ("COPY --chmod=755 app /app", "COPY --chmod"),
        ("ADD --chmod=644 a /a", "ADD --chmod"),
        ("RUN <<EOF", "A RUN heredoc (<<EOF)"),
    ],
)
def test_buildkit_only_syntax_is_found(line, name):
    (feature,) = buildkit_features(f"FROM scratch\n{line}\nEOF\n")
    assert (feature.name, feature.line) == (name, 2)


def test_plain_dockerfiles_and_lookalikes_are_not_flagged():
    text = (
        "# RUN --mount in a comment\n"
        "FROM busybox\n"
        "RUN echo --mount is just text here && ls --link-dest\n"
        "COPY --from=build /a /a\n"
        "RUN cat <<< 'here-string'\n"
    )
    assert [f.name for f in buildkit_features(text)] == []


def test_a_continued_instruction_is_reported_at_its_first_line():
    text = "FROM scratch\nRUN \\\n  # a comment\n  --mount=type=cache,target=/c \\\n  make\n"
    (feature,) = buildkit_features(text)
    assert (feature.name, feature.line) == ("RUN --mount", 2)


def test_the_legacy_build_refuses_with_a_sentence_that_says_what_to_do(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM scratch\nRUN --mount=type=cache,target=/c true\n")
    with pytest.raises(UserBuildError) as refused:
        require_legacy_syntax(path, "Dockerfile")
    assert refused.value.message.startswith("RUN --mount needs BuildKit: remove builder: legacy")
    assert "Dockerfile line 2" in refused.value.message
    require_legacy_syntax(tmp_path / "missing", "missing")  # the build reports that itself
