"""The dispatcher's database side: claiming batches and recovering from a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.delivery.dispatcher import claim, recover_stale, retry_after_seconds, short_reason
from bot.services import announcements
from storage.database import create_engine, session_factory
from storage.models import Delivery, DeliveryStatus, Role
from tests import outbox_seed as seed

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


async def _announce(session, recipients: int) -> int:
    author = await seed.person(session)
    await seed.many_people(session, telegram_ids=[7_000_000 + n for n in range(recipients - 1)])
    created = await announcements.create(
        session=session,
        access=seed.access(author, Role.ADMIN),
        audience={"kind": "everyone"},
        text="ทดสอบ",
        entities=None,
        send_at=None,
        now=NOW,
    )
    return created.id or 0


async def test_claim_takes_due_pending_rows_in_small_batches(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 5)
        rows = (await session.exec(select(Delivery).order_by(Delivery.id))).all()
        later = rows[0]
        later.next_attempt_at = NOW + timedelta(minutes=1)
        session.add(later)
        await session.commit()
        first = await claim(session=session, now=NOW, limit=3)
        assert [c.id for c in first] == [r.id for r in rows[1:4]]
        assert all(c.attempts == 1 for c in first)
        second = await claim(session=session, now=NOW, limit=3)
        assert [c.id for c in second] == [rows[4].id]
        assert await claim(session=session, now=NOW, limit=3) == []
        due = await claim(session=session, now=NOW + timedelta(minutes=1), limit=3)
        assert [c.id for c in due] == [later.id]
        session.expire_all()
        claimed = (await session.exec(select(Delivery))).all()
        assert {d.status for d in claimed} == {DeliveryStatus.SENDING}
        assert {d.claimed_at for d in claimed} == {NOW, NOW + timedelta(minutes=1)}


async def test_concurrent_claimers_never_take_the_same_row(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 120)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)

        async def worker() -> list[int]:
            taken: list[int] = []
            while True:
                async with sessions() as own:
                    batch = await claim(session=own, now=NOW, limit=7)
                if not batch:
                    return taken
                taken.extend(c.id for c in batch)

        results = await asyncio.gather(*(worker() for _ in range(5)))
    finally:
        await engine.dispose()
    everything = [i for result in results for i in result]
    assert len(everything) == 120
    assert len(set(everything)) == 120


async def test_rows_left_sending_by_a_dead_process_fail_and_are_never_resent(
    database_url: str,
) -> None:
    async with seed.open_session(database_url) as session:
        await _announce(session, 3)
        stuck = await claim(session=session, now=NOW, limit=2)
        lease = timedelta(minutes=5)
        # Within the lease the rows may still be in flight in a live process: left alone.
        soon, later = NOW + timedelta(minutes=4), NOW + timedelta(minutes=6)
        assert await recover_stale(session=session, now=soon, lease=lease) == 0
        assert await recover_stale(session=session, now=later, lease=lease) == 2
        session.expire_all()
        rows = (await session.exec(select(Delivery).order_by(Delivery.id))).all()
        assert [(r.status, r.error) for r in rows] == [
            (DeliveryStatus.FAILED, "interrupted"),
            (DeliveryStatus.FAILED, "interrupted"),
            (DeliveryStatus.PENDING, None),
        ]
        later = await claim(session=session, now=NOW + timedelta(minutes=6), limit=10)
        assert [c.id for c in later] == [rows[2].id]
        assert {c.id for c in stuck}.isdisjoint({c.id for c in later})


def test_reasons_are_short_and_retry_after_is_read_without_warnings(monkeypatch) -> None:
    from telegram.error import RetryAfter, TimedOut

    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    assert retry_after_seconds(RetryAfter(timedelta(seconds=7))) == 7.0
    assert short_reason(TimedOut()) == "TimedOut: Timed out"
    assert len(short_reason(RuntimeError("x" * 1000))) == 120


def test_the_report_reads_well_in_both_languages() -> None:
    from zoneinfo import ZoneInfo

    from bot.delivery.dispatcher import render_report

    report = announcements.Report(
        announcement_id=7,
        chat_id=1,
        language="en",
        delivered=1995,
        blocked=3,
        failed=2,
        reasons={"interrupted": 1, "NetworkError: Bad Gateway": 1},
        seconds=125,
    )
    tz = ZoneInfo("Asia/Bangkok")
    assert render_report(report, tz).splitlines() == [
        "Report on announcement #7",
        "Delivered: 1995",
        "Blocked the bot: 3",
        "Failed: 2",
        "  • network or Telegram server error (NetworkError: Bad Gateway): 1",
        "  • the bot stopped while sending; delivery unknown: 1",
        "Took 2 min",
    ]
    thai = render_report(announcements.Report(**{**report.__dict__, "language": "th"}), tz)
    assert "ส่งถึงแล้ว: 1995 คน" in thai
    assert thai.endswith("ใช้เวลา 2 นาที")
