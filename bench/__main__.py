"""python -m bench [benchmark ...] [--quick] [--json] [--db sqlite|postgresql|both] [options].

Benchmarks: checkin, memory, broadcast, headcount, growth, durability (all of these: `all`, the
default), and latency, people and webhook, which run only when named (`python -m bench
latency`): latency offers load for a fixed time per rate and bot, minutes in all; people reads
the bot's memory as 100,000 distinct people check in once each; webhook sets 1 and 3 webhook
replicas (PostgreSQL only) against the polling bot and kills a replica under load.
Prints one table per benchmark and database (or, with --json, one JSON document for tools);
exits 1 when a benchmark fails or a sanity check does not hold, since its figures would lie. A
part cut short by its deadline still prints what it measured, marked INCOMPLETE. Ctrl-C or
SIGTERM stops every bot the bench started and drops its scratch databases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    broadcast,
    checkin,
    durability,
    growth,
    headcount,
    latency,
    lifecycle,
    memory,
    people,
)
from bench.common import DATABASES, BenchError, Report, machine

ALL = ("checkin", "memory", "broadcast", "headcount", "growth", "durability")
BENCHMARKS = (*ALL, "latency", "people", "webhook", "all")
EXIT_INTERRUPTED = 130
WEBHOOK_NEEDS_POSTGRESQL = (
    "webhook: replicas share one PostgreSQL database, so it runs only with --db postgresql or both"
)


def _rates(text: str) -> tuple[float, ...]:
    """Rates a second, from "25,50,100"."""
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from error
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("rates must be positive numbers, e.g. 25,50,100,200")
    return rates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmarks and their options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    # No `choices` here: with nargs="*", argparse checks the default list as one choice.
    parser.add_argument(
        "benchmarks",
        nargs="*",
        default=["all"],
        metavar="benchmark",
        help=f"one or more of {', '.join(BENCHMARKS)} "
        "(default: all, which is all but latency, people and webhook)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: proves it works")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of tables")
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument(
        "--n",
        type=int,
        help="size: people checking in per round (2,000), broadcast recipients (10,000), "
        "people in the headcount database (100,000), distinct people for people (100,000)",
    )
    parser.add_argument(
        "--limit", type=float, help="the fake's overall messages per second for broadcast (30)"
    )
    parser.add_argument("--rounds", type=int, help="check-in rounds per bot (3, at least 3)")
    parser.add_argument(
        "--rates", type=_rates, help="latency: offered check-ins a second (25,50,100,200)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="latency and webhook: seconds each rate is offered (20; 5 quick)",
    )
    parser.add_argument(
        "--arrivals",
        choices=["poisson", "even"],
        default="poisson",
        help="latency: Poisson (default) or evenly spaced arrivals",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="checkin: also run asa from another checkout (e.g. a `git worktree` of an earlier "
        "commit) in the same interleaved rounds, and print this asa's ratios to it",
    )
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "bot" / "__main__.py").is_file():
        parser.error(f"--baseline {args.baseline}: not an asa checkout (no bot/__main__.py)")
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    for name in ("n", "limit", "rounds", "duration"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name} must be positive")
    if args.rounds is not None and args.rounds < 3:
        parser.error("--rounds must be at least 3: the figures are medians of rounds")
    if "webhook" in args.benchmarks and args.db == "sqlite":
        parser.error(WEBHOOK_NEEDS_POSTGRESQL)
    return args


async def run_all(args: argparse.Namespace, show: Callable[[Report], None]) -> list[Report]:
    """Run what was asked on each database, showing each table as soon as it is ready."""
    databases = DATABASES if args.db == "both" else (args.db,)
    wanted = set(args.benchmarks)
    if "all" in wanted:
        wanted |= set(ALL)
    reports: list[Report] = []

    def done(report: Report) -> None:
        reports.append(report)
        show(report)

    for database in databases:
        if wanted & {"checkin", "memory"}:
            outcome = await checkin.run(
                database=database,
                quick=args.quick,
                n=args.n,
                rounds=args.rounds,
                baseline=args.baseline,
            )
            if "checkin" in wanted:
                done(checkin.report(outcome))
            if "memory" in wanted:
                done(memory.report(outcome))
        if "broadcast" in wanted:
            done(
                await broadcast.run(database=database, quick=args.quick, n=args.n, limit=args.limit)
            )
        if "headcount" in wanted:
            done(await headcount.run(database=database, quick=args.quick, n=args.n))
        if "growth" in wanted:
            done(await growth.run(database=database, quick=args.quick))
        if "durability" in wanted and database == "sqlite":
            done(await durability.run(quick=args.quick))
        if "latency" in wanted:
            plan = latency.Plan.of(
                quick=args.quick, rates=args.rates, duration=args.duration, arrivals=args.arrivals
            )
            done(await latency.run(database=database, plan=plan))
        if "people" in wanted:
            done(await people.run(database=database, quick=args.quick, n=args.n))
        if "webhook" in wanted and database == "postgresql":
            from bench import webhook  # imported when asked for: it brings in the test tools

            for report in await webhook.run(
                quick=args.quick, n=args.n, rounds=args.rounds, duration=args.duration
            ):
                done(report)
    return reports


def plain(value: Any) -> Any:
    """JSON-safe: NaN and infinity (not measured, no reply) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _interrupted() -> int:
    print("bench: interrupted; its bots are stopped, its scratch databases gone", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """Run, print, and say whether every check held."""
    args = parse_args(argv)

    def show(report: Report) -> None:
        if not args.json:
            print(report.table(), end="\n\n", flush=True)

    try:
        with lifecycle.terminate_as_interrupt():
            reports = asyncio.run(lifecycle.run_cancellable(run_all(args, show)))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return _interrupted()
    if lifecycle.interrupted():  # stopped, yet the work returned: still an interrupted run
        return _interrupted()
    if args.json:
        document: dict[str, Any] = {
            "machine": machine(),
            "reports": [report.to_json() for report in reports],
        }
        print(json.dumps(plain(document), indent=2, ensure_ascii=False, allow_nan=False))
    failed = [report.name for report in reports if not report.ok]
    if failed:
        print(f"bench: sanity checks failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
