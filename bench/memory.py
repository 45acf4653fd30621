"""Resident memory of the bot process: idle, and after the check-in run.

The bot runs in its own process for the check-in benchmark (bench/process.py), so its memory
is read from /proc/<pid>/status of that process: VmRSS once it is polling and quiet (idle), and
again after every check-in round has been answered; VmHWM is the peak in between. Measuring
this process instead would add the fake server's records of every message to the bot's bill.
The echo bot's figures show what python-telegram-bot alone costs.
"""

from __future__ import annotations

from typing import Any

from bench import checkin
from bench.common import MIB, Report, fmt_ratio, ratio


def report(outcome: checkin.Outcome) -> Report:
    """The memory table of one check-in run."""
    asa, echo, size = outcome.asa, outcome.echo, outcome.size

    def row(label: str, asa_kib: int, echo_kib: int) -> list[Any]:
        return [label, asa_kib / MIB, echo_kib / MIB, fmt_ratio(ratio(asa_kib, echo_kib))]

    growth = (asa.rss_after_kib - asa.rss_idle_kib) / max(1, size.total)
    return Report(
        name="memory",
        title=f"Memory of the bot process: idle, then after {size.total:,} check-ins",
        database=outcome.database,
        columns=["resident memory (MiB)", "asa", "echo bot", "asa / echo"],
        rows=[
            row("idle (polling, before any update)", asa.rss_idle_kib, echo.rss_idle_kib),
            row("after the check-in run", asa.rss_after_kib, echo.rss_after_kib),
            row("peak during the run (VmHWM)", asa.rss_peak_kib, echo.rss_peak_kib),
        ],
        data={
            "checkins": size.total,
            "asa": {
                "rss_idle_mib": asa.rss_idle_kib / MIB,
                "rss_after_mib": asa.rss_after_kib / MIB,
                "rss_peak_mib": asa.rss_peak_kib / MIB,
                "growth_kib_per_checkin": growth,
            },
            "echo": {
                "rss_idle_mib": echo.rss_idle_kib / MIB,
                "rss_after_mib": echo.rss_after_kib / MIB,
                "rss_peak_mib": echo.rss_peak_kib / MIB,
            },
        },
        checks={"the check-in run it measures passed its checks": checkin.report(outcome).ok},
        notes=[
            "VmRSS of the `python -m bot run` process, read from /proc/<pid>/status",
            f"growth over the run: {growth:.2f} KiB per check-in",
        ],
    )
