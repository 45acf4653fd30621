"""The benchmarks still work: each one's --quick size runs once (no timing is asserted).

They run on the suite's database (ASA_TEST_DB), each in a scratch database of its own, with the
real bot started as `python -m bot run` in a child process, exactly as `python -m bench` does.
Killing the bench mid-run must leave no child process and no scratch database behind.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest

from bench import broadcast, checkin, durability, growth, headcount, latency, memory, people
from bench.__main__ import main, parse_args, plain
from bench.common import Report, cores, median, percentile
from bench.lifecycle import DATABASE_PREFIX
from bench.process import REPO
from tests.database import PG_ADMIN_DSN, backend

T = TypeVar("T")


def _positive(value: float) -> bool:
    """A real measurement: finite and above zero."""
    return math.isfinite(value) and value > 0


async def test_checkin_quick_interleaves_four_bots_and_measures_each() -> None:
    outcome = await checkin.run(database=backend(), quick=True, n=None)
    table = checkin.report(outcome)
    assert table.ok, table.table()
    assert table.complete, table.table()
    size = outcome.size
    assert size.rounds >= 3
    assert set(outcome.runs) == {"asa", "asa_shipped", "echo", "insert"}
    for key, run in outcome.runs.items():
        assert run.complete, key
        assert run.no_duplicates, key
        assert run.sent == run.replies == run.expected_replies == size.total, key
        assert run.round_complete == [True] * size.rounds, key
        assert len(run.throughputs) == len(run.cpu_ms) == size.rounds, key
        assert all(_positive(value) for value in run.throughputs), key
        assert all(value >= 0 for value in run.cpu_ms), key
        assert len(run.burst_latencies) == size.people * size.rounds, key
        assert len(run.idle_latencies) == size.sequential, key
        assert 0 < run.rss_idle_kib <= run.rss_peak_kib, key
        assert run.same_interpreter, key
    assert outcome.runs["asa"].recorded == outcome.runs["asa_shipped"].recorded == size.total
    assert outcome.runs["insert"].recorded == size.total
    assert outcome.runs["echo"].recorded is None
    assert outcome.sniffio
    for key in ("throughput_ratio", "throughput_ratio_to_insert", "cpu_ratio"):
        assert _positive(table.data[key]), key
    text = table.table()
    assert f"database: {backend()}" in text
    assert "Telegram caps a bot's replies at about 30 a second" in text
    assert "INCOMPLETE" not in text
    usage = memory.report(outcome)
    assert usage.ok, usage.table()
    assert usage.data["asa"]["rss_idle_mib"] > 0
    assert "echo bot" in usage.table()


@pytest.fixture
def other_checkout(tmp_path: Path) -> Path:
    """A copy of this source tree elsewhere, as `git worktree add` of another commit makes."""
    for package in ("bot", "storage"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / package, tmp_path / package, ignore=ignore)
    return tmp_path.resolve()


async def test_a_baseline_checkout_runs_beside_this_one_in_the_same_rounds(
    other_checkout: Path,
) -> None:
    """`--baseline DIR`: asa from another source tree (here a copy of this one) is a bot of the
    same interleaved run, and this asa's round-by-round ratios to it are printed."""
    outcome = await checkin.run(database=backend(), quick=True, n=None, baseline=other_checkout)
    table = checkin.report(outcome)
    assert table.ok, table.table()
    assert table.complete, table.table()
    assert set(outcome.runs) == {"asa", checkin.BASELINE, "asa_shipped", "echo", "insert"}
    baseline, asa = outcome.runs[checkin.BASELINE], outcome.runs["asa"]
    assert (baseline.checkout, asa.checkout) == (other_checkout, REPO)
    assert baseline.recorded == asa.recorded == outcome.size.total
    assert baseline.round_complete == [True] * outcome.size.rounds
    for key in ("throughput_ratio_to_baseline", "cpu_ratio_to_baseline"):
        assert _positive(table.data[key]), key
    assert f"asa at {other_checkout.name}" in table.table()
    assert "this asa over the baseline's" in table.table()


async def test_a_round_past_its_deadline_is_reported_not_thrown_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checkin, "round_deadline", lambda people, rate_limit: 0.0)
    outcome = await checkin.run(database=backend(), quick=True, n=None)
    table = checkin.report(outcome)
    assert not table.complete
    text = table.table()
    assert "INCOMPLETE" in text
    assert "0/3" in text
    for key, run in outcome.runs.items():
        # The first round missed its deadline: the bot sat out the rest, but what was measured
        # before (and in that round) is kept.
        assert run.round_complete == [False], key
        assert len(run.idle_latencies) == outcome.size.sequential, key
        assert run.incomplete, key
        assert run.no_duplicates, key


async def test_broadcast_quick_reaches_every_recipient_exactly_once() -> None:
    table = await broadcast.run(database=backend(), quick=True, n=None, limit=None)
    assert table.ok, table.table()
    assert table.complete, table.table()
    clean, faulty = table.data["runs"]
    size = broadcast.Size.of(quick=True, n=None, limit=None)
    assert clean["delivered"] == size.recipients
    assert clean["delivery_statuses"] == {"sent": size.recipients}
    assert faulty["blocked"] > 0
    assert faulty["failing_once"] > 0
    assert faulty["delivered"] == size.recipients - faulty["blocked"]
    assert faulty["delivery_statuses"]["blocked"] == faulty["blocked"]
    for run in (clean, faulty):
        assert run["complete"]
        assert run["duplicates"] == run["messages_to_blocked"] == 0
        assert run["author_report_received"]
        assert _positive(run["messages_per_s"])
        assert run["http_429"] >= 0


async def test_headcount_quick_times_first_runs_apart_on_every_connection_mode() -> None:
    size = headcount.Size.of(quick=True, n=None)
    table = await headcount.run(database=backend(), quick=True, n=None)
    assert table.ok, table.table()
    assert table.data["export_rows"] == size.attendees
    series = table.data["series"]
    modes = {one["connection"] for one in series}
    if backend() == "postgresql":
        assert modes == {headcount.CACHE_ON, headcount.CACHE_OFF}
    else:
        assert modes == {headcount.SQLITE_MODE}
    for one in series:
        assert len(one["ms_by_connection"]) == size.connections
        assert _positive(one["first_run_ms_median"])
        assert _positive(one["runs_2_to_5_ms_median"])
        if one["service"] == headcount.HEADCOUNT:
            assert all(len(times) == size.runs for times in one["ms_by_connection"])
            assert _positive(one["runs_6_on_ms_median"])


async def test_growth_quick_prints_a_factor_per_tenfold() -> None:
    table = await growth.run(database=backend(), quick=True)
    assert table.ok, table.table()
    points = table.data["points"]
    assert [point["checkins"] for point in points] == [1_000, 10_000, 100_000]
    assert len(table.data["growth_per_10x"]) == len(points) - 1
    for point in points:
        assert _positive(point["checkin_ms_median"])
        assert _positive(point["headcount_first_run_ms_median"])
    for factors in table.data["growth_per_10x"]:
        assert all(_positive(value) for value in factors.values())
    assert "×/10×" in table.table()


async def test_durability_quick_compares_normal_with_full_sync() -> None:
    table = await durability.run(quick=True)
    assert table.ok, table.table()
    normal, full = table.data["modes"]
    assert (normal["synchronous"], full["synchronous"]) == ("NORMAL", "FULL")
    assert _positive(normal["checkins_per_s_median"])
    assert _positive(full["checkins_per_s_median"])
    assert "raw database cost" in table.table()


async def test_people_reads_memory_after_each_tenth_of_the_people() -> None:
    table = await people.run(database=backend(), quick=True, n=None)
    assert table.ok, table.table()
    points = table.data["points"]
    assert [point["people"] for point in points] == [1000, 2000]
    assert all(_positive(point["rss_mib"]) for point in points)
    assert math.isfinite(table.data["growth_kib_per_1000_people_second_half"])
    assert "KiB per 1,000 people" in table.table()


CALM = 10.0


async def test_latency_drives_an_open_loop_and_reports_a_rate_it_cannot_keep() -> None:
    # A calm rate any bot keeps even with 40 ms added to every database statement
    # (ASA_DB_LATENCY_MS): ten check-ins, each about 0.4 s of database waits then, within the
    # 5 s the quick plan waits after the last one. 25 a second did not keep up there.
    plan = latency.Plan.of(quick=True, rates=(CALM, 400.0), duration=1.0)
    table = await latency.run(database=backend(), plan=plan)
    assert table.ok, table.table()
    cells = table.data["cells"]
    assert [(cell["rate_per_s"], cell["bot"]) for cell in cells] == [
        (rate, bot) for rate in plan.rates for bot, _ in latency.BOTS
    ]
    for cell in cells:
        assert cell["sent"] > 0
        assert 0 <= cell["share_over_50_ms"] <= 1
    calm = [cell for cell in cells if cell["rate_per_s"] == CALM]
    assert all(cell["complete"] and _positive(cell["p50_ms"]) for cell in calm)
    # 400 a second for a second against a limiter of 25 a second cannot be answered in time:
    # the cell still reports what it measured.
    shipped = next(c for c in cells if c["rate_per_s"] == 400.0 and c["bot"] == "asa_shipped")
    assert not shipped["complete"]
    assert 0 < shipped["replied"] < shipped["sent"]
    assert not table.complete
    assert "INCOMPLETE" in table.table()


def test_command_line_prints_json_for_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["headcount", "--quick", "--json", "--db", backend(), "--n", "400"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["machine"]["cores"] == cores()
    (only,) = document["reports"]
    assert only["benchmark"] == "headcount"
    assert only["database"] == backend()
    assert only["ok"] is True
    assert only["complete"] is True
    assert only["results"]["people"] == 400


def test_json_has_no_nan_or_infinity() -> None:
    assert plain({"a": [math.nan, math.inf, 1.5], "b": (2,)}) == {"a": [None, None, 1.5], "b": [2]}


def test_command_line_runs_everything_but_latency_by_default_or_what_is_named() -> None:
    assert parse_args([]).benchmarks == ["all"]
    assert parse_args(["checkin", "memory"]).benchmarks == ["checkin", "memory"]
    assert parse_args(["latency", "--rates", "25,50", "--duration", "2"]).rates == (25.0, 50.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["checkin", "--n", "0"],
        ["nope"],
        ["broadcast", "--limit", "-1"],
        ["checkin", "--rounds", "2"],
        ["latency", "--rates", "25,x"],
        ["latency", "--duration", "0"],
        ["checkin", "--baseline", "/nonexistent-checkout"],
    ],
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
        rows=[["speed", 1234.5], ["count", 10_000], ["lost", math.inf]],
        data={},
        checks={"it worked": False},
        incomplete=["round 2 hit its deadline"],
    )
    text = report.table()
    assert f"{cores()} cores" in text
    assert "database: sqlite" in text
    assert "1,234.5" in text
    assert "10,000" in text
    assert "no reply" in text
    assert "check: it worked: FAILED" in text
    assert "INCOMPLETE: round 2 hit its deadline" in text
    assert not report.ok
    assert not report.complete


# ---------------------------------------------------------------------------------------------
# Killing the bench


def _processes() -> dict[int, tuple[int, int]]:
    """Every process now: pid -> (parent pid, session id)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if fields[0] != "Z":  # a zombie is dead; its parent just has not reaped it yet
            table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return table


def _wait_until(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `condition` until it returns something; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (result := condition()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)  # /proc has no change notification; look again
    return result


async def _scratch_databases(pid: int) -> list[str]:
    """The bench process `pid`'s scratch databases that exist now."""
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{DATABASE_PREFIX}{pid}_%"
        )
        return [row["datname"] for row in rows]
    finally:
        await connection.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_killing_the_bench_leaves_no_child_and_no_scratch_database(
    tmp_path: Path, signum: int
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "checkin", "--quick", "--db", backend()],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},  # where its SQLite files and logs go
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:

        def bots_running() -> list[int] | None:
            children = [pid for pid, (ppid, _) in _processes().items() if ppid == bench.pid]
            return children if len(children) == len(checkin.CONTENDERS) else None

        children = _wait_until(bots_running, 90, "the bench to start all its bots")
        if backend() == "postgresql":
            assert asyncio.run(_scratch_databases(bench.pid))
        assert list(scratch.iterdir())
        os.kill(bench.pid, signum)
        _, errors = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
    assert bench.returncode == 130, errors
    # Each bot led its own session: nothing of theirs, nor anything they started, is left.
    left = {pid for pid, (_, session) in _processes().items() if session in children}
    assert not left, f"processes of the bots' sessions still running: {left}"
    assert list(scratch.iterdir()) == []
    if backend() == "postgresql":
        assert asyncio.run(_scratch_databases(bench.pid)) == []
