"""The benchmarks still work: each one's --quick size runs once (no timing is asserted).

They run on the suite's database (ASA_TEST_DB), each in a scratch database of its own, with the
real bot started as `python -m bot run` in a child process, exactly as `python -m bench` does.
"""

from __future__ import annotations

import json
import math

import pytest

from bench import broadcast, checkin, headcount, memory
from bench.__main__ import main, parse_args
from bench.common import Report, cores, median, percentile
from tests.database import backend


def _positive(value: float) -> bool:
    """A real measurement: finite and above zero."""
    return math.isfinite(value) and value > 0


async def test_checkin_quick_checks_everyone_in_once_and_measures_both_bots() -> None:
    outcome = await checkin.run(database=backend(), quick=True, n=None)
    table = checkin.report(outcome)
    assert table.ok, table.table()
    size = outcome.size
    assert outcome.checkins_recorded == size.total
    for run in (outcome.asa, outcome.echo):
        assert run.exactly_one
        assert run.replies == run.expected_replies == size.total
        assert len(run.throughputs) == size.rounds
        assert all(_positive(value) for value in run.throughputs)
        assert len(run.burst_latencies) == size.people * size.rounds
        assert len(run.idle_latencies) == size.sequential
        assert 0 < run.rss_idle_kib <= run.rss_peak_kib
        assert run.rss_after_kib <= run.rss_peak_kib
    assert _positive(table.data["throughput_ratio"])
    assert f"database: {backend()}" in table.table()
    usage = memory.report(outcome)
    assert usage.ok, usage.table()
    assert usage.data["asa"]["rss_idle_mib"] > 0
    assert "echo bot" in usage.table()


async def test_broadcast_quick_reaches_every_recipient_exactly_once() -> None:
    table = await broadcast.run(database=backend(), quick=True, n=None, limit=None)
    assert table.ok, table.table()
    clean, faulty = table.data["runs"]
    size = broadcast.Size.of(quick=True, n=None, limit=None)
    assert clean["delivered"] == size.recipients
    assert clean["delivery_statuses"] == {"sent": size.recipients}
    assert faulty["blocked"] > 0
    assert faulty["failing_once"] > 0
    assert faulty["delivered"] == size.recipients - faulty["blocked"]
    assert faulty["delivery_statuses"]["blocked"] == faulty["blocked"]
    for run in (clean, faulty):
        assert run["exactly_one_per_reachable_recipient"]
        assert run["author_report_received"]
        assert _positive(run["messages_per_s"])
        assert run["http_429"] >= 0


async def test_headcount_quick_counts_and_exports_the_loaded_event() -> None:
    size = headcount.Size.of(quick=True, n=None)
    table = await headcount.run(database=backend(), quick=True, n=None)
    assert table.ok, table.table()
    assert table.data["export_rows"] == size.attendees
    assert len(table.data["headcount_ms"]) == len(table.data["export_ms"]) == size.runs
    assert _positive(table.data["headcount_ms_median"])
    assert _positive(table.data["export_ms_median"])


def test_command_line_prints_json_for_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["headcount", "--quick", "--json", "--db", backend(), "--n", "400"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["machine"]["cores"] == cores()
    (only,) = document["reports"]
    assert only["benchmark"] == "headcount"
    assert only["database"] == backend()
    assert only["ok"] is True
    assert only["results"]["people"] == 400


def test_command_line_runs_everything_by_default_or_what_is_named() -> None:
    assert parse_args([]).benchmarks == ["all"]
    assert parse_args(["checkin", "memory"]).benchmarks == ["checkin", "memory"]


@pytest.mark.parametrize(
    "argv", [["checkin", "--n", "0"], ["nope"], ["broadcast", "--limit", "-1"]]
)
def test_command_line_refuses_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2


def test_statistics_are_the_usual_ones() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(median([]))


def test_a_table_names_the_cores_and_the_database_and_flags_failed_checks() -> None:
    report = Report(
        name="x",
        title="A benchmark",
        database="sqlite",
        columns=["", "value"],
        rows=[["speed", 1234.5], ["count", 10_000]],
        data={},
        checks={"it worked": False},
    )
    text = report.table()
    assert f"{cores()} cores" in text
    assert "database: sqlite" in text
    assert "1,234.5" in text
    assert "10,000" in text
    assert "check: it worked: FAILED" in text
    assert not report.ok
