"""The status filter: one parser, one behaviour, for the API and the dashboard."""

from __future__ import annotations

import pytest

from app.filters import UnknownStatusError, parse_statuses
from core.build import BuildStatus


def test_statuses_are_read_in_order_once_each_skipping_blanks():
    assert parse_statuses(" success , queued,success,,") == (
        BuildStatus.SUCCESS,
        BuildStatus.QUEUED,
    )


@pytest.mark.parametrize("raw", [None, "", " , "])
def test_no_status_named_is_no_filter(raw):
    assert parse_statuses(raw) == ()


def test_an_unknown_status_is_refused_with_the_known_ones():
    with pytest.raises(UnknownStatusError) as refused:
        parse_statuses("queued,sucess")
    assert refused.value.name == "sucess"
    assert str(refused.value) == (
        "Unknown status 'sucess'; use one of "
        + ", ".join(status.value for status in BuildStatus)
        + "."
    )
