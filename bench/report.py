"""Statistics, tables and the closing ``ratio NAME VALUE`` lines."""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def fmt_seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f} s"


def fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.1f} ms"


def fmt_ratio(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


@dataclass
class Table:
    title: str
    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.headers)} columns")
        self.rows.append([str(cell) for cell in cells])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for index, cell in enumerate(row):
                widths[index] = max(widths[index], len(cell))
        line = "  ".join("-" * w for w in widths)
        header = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))
        out = [f"== {self.title}", header]
        out.append(line)
        for row in self.rows:
            out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        out.extend(f"   {note}" for note in self.notes)
        return "\n".join(out)


@dataclass(frozen=True)
class Ratio:
    name: str
    value: float
    target: str  # e.g. "<= 0.8"
    met: bool | None  # None: not judged (e.g. not measured)

    @property
    def line(self) -> str:
        return f"ratio {self.name} {fmt_ratio(self.value)}"


@dataclass
class Report:
    tables: list[Table] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    checks: list[Ratio] = field(default_factory=list)

    def table(self, table: Table) -> None:
        self.tables.append(table)
        print(table.render() + "\n", flush=True)

    def ratio(self, name: str, value: float, target: str, met: bool | None) -> None:
        self.ratios.append(Ratio(name, value, target, met))

    def check(self, name: str, value: float, target: str, met: bool | None) -> None:
        """A target that is not a ratio (shown in the summary, not as a ``ratio`` line)."""
        self.checks.append(Ratio(name, value, target, met))

    def finish(self) -> None:
        summary = Table("targets (issue 8)", ["figure", "value", "target", "met"])
        for ratio in [*self.ratios, *self.checks]:
            met = "n/a" if ratio.met is None else ("yes" if ratio.met else "NO")
            summary.add(ratio.name, fmt_ratio(ratio.value), ratio.target, met)
        print(summary.render() + "\n", flush=True)
        for ratio in self.ratios:
            print(ratio.line)
        sys.stdout.flush()
