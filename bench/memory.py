"""Resident memory of the bot process: idle, and after the check-in run.

Each bot runs in its own process for the check-in benchmark (bench/process.py), so its memory
is read from /proc/<pid>/status of that process: VmRSS once it polls (idle), and again after
every check-in round has been answered; VmHWM is the peak in between. Measuring this process
instead would add the fake server's records of every message to the bot's bill. The reference
bots' figures show what python-telegram-bot alone costs, and with a database engine.
"""

from __future__ import annotations

from typing import Any

from bench import checkin
from bench.common import MIB, Report, fmt_ratio, ratio

BOTS = {"asa": "asa", "echo": "echo bot", "insert": "PTB + INSERT"}


def report(outcome: checkin.Outcome) -> Report:
    """The memory table of one check-in run."""
    runs = {key: outcome.runs[key] for key in BOTS}
    asa, echo = runs["asa"], runs["echo"]

    def row(label: str, field: str) -> list[Any]:
        values = [getattr(run, field) for run in runs.values()]
        return [label, *(v / MIB for v in values), fmt_ratio(ratio(values[0], values[1]))]

    total = asa.sent
    growth = (asa.rss_after_kib - asa.rss_idle_kib) / max(1, total)
    return Report(
        name="memory",
        title=f"Memory of the bot process: idle, then after {total:,} check-ins",
        database=outcome.database,
        columns=["resident memory (MiB)", *BOTS.values(), "asa / echo"],
        rows=[
            row("idle (polling, before any update)", "rss_idle_kib"),
            row("after the check-in run", "rss_after_kib"),
            row("peak during the run (VmHWM)", "rss_peak_kib"),
        ],
        data={
            "checkins": total,
            **{
                key: {
                    "rss_idle_mib": run.rss_idle_kib / MIB,
                    "rss_after_mib": run.rss_after_kib / MIB,
                    "rss_peak_mib": run.rss_peak_kib / MIB,
                }
                for key, run in runs.items()
            },
            "asa_growth_kib_per_checkin": growth,
        },
        checks={"the check-in run it measures passed its checks": checkin.report(outcome).ok},
        incomplete=[] if asa.complete and echo.complete else ["a check-in round was cut short"],
        notes=[
            "VmRSS of each bot's process, read from /proc/<pid>/status; asa: the one with the "
            "raised limiter",
            f"asa's growth over the run: {growth:.2f} KiB per check-in",
        ],
    )
