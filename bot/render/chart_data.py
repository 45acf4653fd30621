"""What a headcount chart shows; kept apart from matplotlib so importing it costs nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChartData:
    """What the chart shows, already in the reader's words."""

    title: str
    groups_title: str
    groups: Sequence[tuple[str, int]]
    zones_title: str
    zones: Sequence[tuple[str, int]]
    arrivals_title: str
    arrivals: Sequence[tuple[str, int]]
    empty_text: str
