"""Date formats in templates: ``{date:%Y%m%d}`` and ``{commit_date:%Y%m%d}``.

A format is strftime's, limited to the directives that print the same letters and digits on
every platform and locale-free enough for a tag (``%c``, ``%x``, ``%Z`` and friends are refused:
they print spaces, colons or names that depend on the machine). ``%%`` is a literal ``%``.
``{date}`` and ``{commit_date}`` without a format mean ``%Y%m%d``, as metadata-action's
``{{date 'YYYYMMDD'}}``.
"""

from __future__ import annotations

from datetime import datetime

DATE_VARIABLES = ("date", "commit_date")
DEFAULT_DATE_FORMAT = "%Y%m%d"
DIRECTIVES = frozenset("YymdHMSjUWVGuwbBaApI")  # strftime letters a format may use


class DateFormatError(ValueError):
    """A date format that is empty or uses a directive we do not accept."""


def check_date_format(name: str, fmt: str) -> None:
    """Raise DateFormatError when ``fmt`` is not a format ``{name:...}`` accepts."""
    if not fmt:
        raise DateFormatError(
            f"{{{name}:}} has an empty format: write a strftime format like {{{name}:%Y%m%d}}"
        )
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            directive = fmt[i + 1 : i + 2]
            if directive != "%" and directive not in DIRECTIVES:
                shown = f"%{directive}" if directive else "a lone %"
                allowed = " ".join(f"%{d}" for d in sorted(DIRECTIVES))
                raise DateFormatError(
                    f"{{{name}:{fmt}}} uses {shown}, which is not a date directive we accept "
                    f"(use {allowed} or %% for a literal %)"
                )
            i += 2
        else:
            i += 1


def format_literal_text(fmt: str) -> str:
    """The characters of ``fmt`` outside its directives (what it prints besides the date)."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            out.append("%" if fmt[i + 1 : i + 2] == "%" else "")
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def render_date(moment: datetime, fmt: str) -> str:
    """``moment`` (already in the wanted time zone) in ``fmt``."""
    return moment.strftime(fmt)
