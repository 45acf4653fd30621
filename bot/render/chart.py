"""The headcount as a picture: bars by attendee group and by zone, and the arrival curve.

Rendered with matplotlib's object-oriented API on the Agg backend (no pyplot, no display, safe
to run in a worker thread). Thai labels use Noto Sans Thai from the `fontpkg-noto-sans-thai`
package, registered with matplotlib's font manager; without it Thai renders as empty boxes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import fontpkg_noto_sans_thai
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bot.render.chart_data import ChartData

__all__ = ["ChartData", "render_headcount_chart"]

# Latin letters and digits fall back to DejaVu Sans, which matplotlib always ships.
FALLBACK_FAMILY = "DejaVu Sans"
BAR_COLOURS = ("#1f6f8b", "#e07a5f", "#81b29a", "#f2cc8f", "#3d405b", "#9c6644")


class ThaiFontMissing(RuntimeError):
    """The Thai font package is installed without its font file."""


def thai_font_path() -> Path:
    """The Noto Sans Thai TTF shipped inside the installed package."""
    fonts = sorted(Path(fontpkg_noto_sans_thai.ROOT).rglob("*.ttf"))
    if not fonts:
        raise ThaiFontMissing(f"no .ttf in {fontpkg_noto_sans_thai.ROOT}; reinstall the package")
    return fonts[0]


@cache
def thai_family() -> str:
    """Register the Thai font with matplotlib once; its family name."""
    path = thai_font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def render_headcount_chart(data: ChartData) -> bytes:
    """A PNG with three panels: groups, zones and arrivals per 15 minutes."""
    families = [thai_family(), FALLBACK_FAMILY]
    figure = Figure(figsize=(8, 10), dpi=110, layout="constrained")
    figure.suptitle(data.title, fontsize=14, family=families)
    panels = (
        (data.groups_title, data.groups, _bars),
        (data.zones_title, data.zones, _bars),
        (data.arrivals_title, data.arrivals, _curve),
    )
    for axes, (title, values, draw) in zip(figure.subplots(3, 1), panels, strict=True):
        if _panel(axes, title, values, families, data.empty_text):
            draw(axes, values, families)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _panel(
    axes: Axes, title: str, values: Sequence[tuple[str, int]], families: list[str], empty: str
) -> bool:
    """Title a panel; False (and a "no data yet" note) when there is nothing to draw."""
    axes.set_title(title, family=families, loc="left")
    if values:
        axes.spines[["top", "right"]].set_visible(False)
        return True
    axes.text(0.5, 0.5, empty, ha="center", va="center", family=families, transform=axes.transAxes)
    axes.set_axis_off()
    return False


def _bars(axes: Axes, values: Sequence[tuple[str, int]], families: list[str]) -> None:
    """Horizontal bars with the count at the end of each."""
    labels = [label for label, _ in values][::-1]
    counts = [count for _, count in values][::-1]
    colours = [BAR_COLOURS[i % len(BAR_COLOURS)] for i in range(len(counts))][::-1]
    bars = axes.barh(labels, counts, color=colours)
    axes.bar_label(bars, padding=3, family=families)
    axes.set_xlim(0, max(max(counts), 1) * 1.15)
    for tick in axes.get_yticklabels():
        tick.set_fontfamily(families)


def _curve(axes: Axes, values: Sequence[tuple[str, int]], families: list[str]) -> None:
    """Arrivals per slot as a line with points, labelled by the slot's start time."""
    positions = list(range(len(values)))
    counts = [count for _, count in values]
    axes.plot(positions, counts, marker="o", color=BAR_COLOURS[0])
    axes.fill_between(positions, counts, alpha=0.15, color=BAR_COLOURS[0])
    # Label at most about twelve ticks so times stay readable on a phone.
    step = max(1, len(values) // 12)
    axes.set_xticks(positions[::step], [label for label, _ in values][::step], rotation=45)
    for tick in axes.get_xticklabels():
        tick.set_fontfamily(families)
    axes.set_ylim(bottom=0)
