"""The outbox dispatcher: claim pending deliveries in small batches, send them, record outcomes.

Exactly once, as far as it can be known: a delivery is marked `sending` (with `claimed_at`) in a
committed transaction *before* its HTTP call, and `sent` right after. If the process dies in
between, the row stays `sending`; once its lease has expired it is recorded as `failed`
("interrupted") and never retried. That is the at-most-once choice: the few messages in flight
at the moment of a kill may be lost, but nobody ever receives an announcement twice.

Outcomes: sent; `Forbidden` (blocked the bot, account deleted) -> `blocked` and the person is
marked unreachable, no retry; `RetryAfter` (429) -> back to pending after the wait, and the
whole dispatcher pauses for that long (Telegram's limit is per bot, not per chat); timeouts and
5xx -> pending again with exponential backoff until `max_attempts`, then `failed` with a short
reason (never the message text); any other Bad Request -> `failed` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, MessageEntity
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.context import AsaApplication
from bot.delivery.notifier import render_notice
from bot.i18n import Translator, translator
from bot.i18n.dates import format_duration
from bot.runtime import Runtime
from bot.services import announcements
from storage.models import (
    Announcement,
    AnnouncementKind,
    AnnouncementStatus,
    Delivery,
    DeliveryStatus,
    Person,
)

_log = logging.getLogger(__name__)

# Bad Requests that mean the chat is gone for good: treated like a block.
GONE_CHAT_HINTS = ("chat not found", "user is deactivated", "bot was blocked")
MAX_ERROR_CHARS = 120
# How long shutting down waits for the batch in flight to be sent and recorded.
STOP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class Claimed:
    """A delivery this process has claimed and must now send."""

    id: int
    announcement_id: int
    person_id: int | None
    chat_id: int
    attempts: int


@dataclass(frozen=True)
class Content:
    """What one recipient receives."""

    text: str
    entities: tuple[MessageEntity, ...] | None = None
    reply_markup: InlineKeyboardMarkup | None = None


# Renders the content of automatic announcements (reminders) for a batch of recipients:
# (session, runtime, announcement, person ids) -> {person id: content}.
Renderer = Callable[[AsyncSession, Runtime, Announcement, list[int]], Awaitable[dict[int, Content]]]


async def claim(*, session: AsyncSession, now: datetime, limit: int) -> list[Claimed]:
    """Mark up to `limit` due deliveries as sending, committed, and return them."""
    pick = (
        select(Delivery.id)
        .where(
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
        )
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    bind = session.bind
    # PostgreSQL: several dispatchers skip each other's rows instead of waiting on them.
    # SQLite: the UPDATE ... RETURNING runs inside BEGIN IMMEDIATE, which is atomic already.
    if bind is not None and bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    result = await session.exec(
        update(Delivery)
        .where(col(Delivery.id).in_(pick.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_at=now,
            attempts=col(Delivery.attempts) + 1,
        )
        .returning(
            col(Delivery.id),
            col(Delivery.announcement_id),
            col(Delivery.person_id),
            col(Delivery.chat_id),
            col(Delivery.attempts),
        )
    )
    claimed = [Claimed(*row) for row in result.all()]
    await session.commit()
    return sorted(claimed, key=lambda c: c.id)


async def recover_stale(*, session: AsyncSession, now: datetime, lease: timedelta) -> int:
    """Deliveries left `sending` by a dead process: recorded as failed, never sent again."""
    result = await session.exec(
        update(Delivery)
        .where(
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.claimed_at) < now - lease,
        )
        .values(status=DeliveryStatus.FAILED.value, error="interrupted")
    )
    await session.commit()
    return int(result.rowcount)


async def _record(session: AsyncSession, delivery_id: int, **values: Any) -> None:
    """Write one outcome, only if this delivery is still ours (status sending)."""
    await session.exec(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.status) == DeliveryStatus.SENDING)
        .values(**values)
    )
    await session.commit()


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds."""
    # The public property warns about its int/timedelta migration in PTB 22; the private
    # timedelta is what python-telegram-bot's own rate limiter reads.
    value = getattr(error, "_retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return 1.0


def short_reason(error: BaseException) -> str:
    """A few words on why a send failed, safe to store (never the message text)."""
    name = type(error).__name__
    message = str(error).strip()
    return f"{name}: {message}"[:MAX_ERROR_CHARS] if message else name


class Dispatcher:
    """Works through the outbox of one process; `run_due` does everything due right now."""

    def __init__(self, application: AsaApplication) -> None:
        self.application = application
        self.runtime = application.runtime
        self.renderers: dict[str, Renderer] = {}
        self.paused_until: datetime | None = None
        # Hooks run in each pass: before claiming (reminders are created) and at its end
        # (the next alarm is set). The scheduler installs them.
        self.before_send: list[Callable[[], Awaitable[None]]] = []
        self.after_pass: list[Callable[[], Awaitable[None]]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- the loop -------------------------------------------------------------------------

    def wake(self) -> None:
        """Ask the loop to look at the database now (alarms and new announcements call this)."""
        self._wake.set()
        self.runtime.activity.fire()

    @property
    def idle(self) -> bool:
        """No pass running and none asked for (what tests and shutdown wait for)."""
        return not self._lock.locked() and not self._wake.is_set()

    def start(self) -> None:
        """Run the loop as an application task (so Application.stop waits for it)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = self.application.create_task(self._loop(), name="outbox")
            self.wake()

    async def stop(self) -> None:
        """Finish the batch in flight, then end the loop."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            # asyncio.wait never raises, whether the task ends, fails or was cancelled.
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            if not task.done():
                task.cancel()

    def kill(self) -> None:
        """End the loop abruptly, mid-send (what a crash does; tests use it)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    def _should_stop(self) -> bool:
        """Whether the loop must end: asked to, or the application is stopping."""
        return self._stopping or not self.application.running

    async def _loop(self) -> None:
        """Sleep until woken, then do what is due; end when the application stops."""
        while not self._should_stop():
            try:
                # A short timeout so the loop notices Application.stop, which waits for it.
                await asyncio.wait_for(self._wake.wait(), timeout=0.25)
            except TimeoutError:
                continue
            self._wake.clear()
            try:
                await self.run_due()
            except Exception:
                # One bad pass must not end sending for good; the next alarm tries again.
                _log.exception("outbox pass failed")

    # -- one pass -------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Start due announcements, send every due delivery, finish and report.

        Returns how many deliveries were attempted in this pass.
        """
        async with self._lock:
            settings = self.runtime.settings.broadcast
            async with self.runtime.sessions() as session:
                await recover_stale(
                    session=session,
                    now=self.runtime.clock.now(),
                    lease=timedelta(seconds=settings.lease_seconds),
                )
                await announcements.start_due(session=session, now=self.runtime.clock.now())
            for hook in list(self.before_send):
                await hook()
            processed = 0
            while not self._should_stop():
                await self._wait_if_paused()
                async with self.runtime.sessions() as session:
                    batch = await claim(
                        session=session, now=self.runtime.clock.now(), limit=settings.batch_size
                    )
                if not batch:
                    break
                await self._send_batch(batch)
                processed += len(batch)
            await self._finish()
            for hook in list(self.after_pass):
                await hook()
        self.runtime.activity.fire()
        return processed

    async def _wait_if_paused(self) -> None:
        """After a 429, nothing is sent until Telegram's wait is over."""
        while self.paused_until is not None and not self._should_stop():
            remaining = (self.paused_until - self.runtime.clock.now()).total_seconds()
            if remaining <= 0:
                self.paused_until = None
                return
            await asyncio.sleep(min(remaining, 0.2))

    async def _send_batch(self, batch: list[Claimed]) -> None:
        """Send a claimed batch concurrently (the rate limiter paces the requests)."""
        contents = await self._contents(batch)
        await asyncio.gather(*(self._deliver(item, contents.get(item.id)) for item in batch))

    async def _contents(self, batch: list[Claimed]) -> dict[int, Content]:
        """What each claimed delivery should say (broadcast text, or a rendered reminder)."""
        result: dict[int, Content] = {}
        by_announcement: dict[int, list[Claimed]] = {}
        for item in batch:
            by_announcement.setdefault(item.announcement_id, []).append(item)
        async with self.runtime.sessions() as session:
            for announcement_id, items in by_announcement.items():
                announcement = await session.get(Announcement, announcement_id)
                if announcement is None:
                    continue
                if announcement.kind == AnnouncementKind.NOTICE:
                    result.update(await self._notice_contents(session, announcement, items))
                    continue
                renderer = self.renderers.get(announcement.reminder_kind or "")
                if announcement.reminder_kind and renderer is not None:
                    rendered = await renderer(
                        session,
                        self.runtime,
                        announcement,
                        [i.person_id for i in items if i.person_id is not None],
                    )
                    result.update(
                        {i.id: rendered[i.person_id] for i in items if i.person_id in rendered}
                    )
                    continue
                content = self._broadcast_content(announcement)
                result.update({i.id: content for i in items})
        return result

    async def _notice_contents(
        self, session: AsyncSession, announcement: Announcement, items: list[Claimed]
    ) -> dict[int, Content]:
        """A notice in each recipient's language (the deployment's default for chats
        without a person, such as config admins)."""
        settings = self.runtime.settings
        ids = [item.person_id for item in items if item.person_id is not None]
        languages: dict[int, str] = {}
        if ids:
            rows = await session.exec(
                select(Person.id, Person.language).where(col(Person.id).in_(ids))
            )
            languages = {pid or 0: lang for pid, lang in rows.all()}
        contents: dict[int, Content] = {}
        for item in items:
            lang = languages.get(item.person_id or 0, settings.bot.default_language)
            text, markup = render_notice(announcement, lang=lang, tz=settings.tz)
            contents[item.id] = Content(text=text, reply_markup=markup)
        return contents

    def _broadcast_content(self, announcement: Announcement) -> Content:
        """A coordinator's text, with its Telegram formatting kept as entities."""
        entities = tuple(
            MessageEntity.de_json(e, self.application.bot) for e in announcement.entities or []
        )
        return Content(text=announcement.text, entities=entities or None)

    async def _deliver(self, item: Claimed, content: Content | None) -> None:
        """Send one message and record what happened."""
        runtime = self.runtime
        async with runtime.sessions() as session:
            if content is None or not content.text:
                await _record(
                    session, item.id, status=DeliveryStatus.FAILED.value, error="nothing to send"
                )
                return
            try:
                message = await self.application.bot.send_message(
                    chat_id=item.chat_id,
                    text=content.text,
                    entities=content.entities,
                    reply_markup=content.reply_markup,
                    allow_paid_broadcast=True if runtime.settings.telegram.paid_broadcast else None,
                )
            except RetryAfter as error:
                await self._retry_later(session, item, error)
            except Forbidden:
                await self._blocked(session, item, "blocked")
            except BadRequest as error:
                if any(hint in str(error).lower() for hint in GONE_CHAT_HINTS):
                    await self._blocked(session, item, "chat gone")
                else:
                    await _record(
                        session,
                        item.id,
                        status=DeliveryStatus.FAILED.value,
                        error=short_reason(error),
                    )
            except (NetworkError, TelegramError) as error:
                await self._backoff(session, item, error)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                _log.exception("delivery %s failed unexpectedly", item.id)
                await _record(
                    session, item.id, status=DeliveryStatus.FAILED.value, error=short_reason(error)
                )
            else:
                await _record(
                    session,
                    item.id,
                    status=DeliveryStatus.SENT.value,
                    sent_at=runtime.clock.now(),
                    message_id=message.message_id,
                    error=None,
                )

    async def _retry_later(self, session: AsyncSession, item: Claimed, error: RetryAfter) -> None:
        """429: back to pending after the wait (not counted as an attempt); pause everything."""
        wait = timedelta(seconds=retry_after_seconds(error))
        until = self.runtime.clock.now() + wait
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until
        _log.warning("Telegram asked to wait %.1f s; pausing the outbox", wait.total_seconds())
        await _record(
            session,
            item.id,
            status=DeliveryStatus.PENDING.value,
            attempts=item.attempts - 1,
            next_attempt_at=until,
            claimed_at=None,
        )

    async def _blocked(self, session: AsyncSession, item: Claimed, reason: str) -> None:
        """The person blocked the bot: never retried, and left out of later audiences."""
        now = self.runtime.clock.now()
        await _record(session, item.id, status=DeliveryStatus.BLOCKED.value, error=reason)
        await session.exec(
            update(Person)
            .where(col(Person.id) == item.person_id, col(Person.unreachable_at).is_(None))
            .values(unreachable_at=now)
        )
        await session.commit()

    async def _backoff(self, session: AsyncSession, item: Claimed, error: TelegramError) -> None:
        """Timeouts and server errors: retry later, doubling the wait, up to max_attempts."""
        settings = self.runtime.settings.broadcast
        if item.attempts >= settings.max_attempts:
            await _record(
                session, item.id, status=DeliveryStatus.FAILED.value, error=short_reason(error)
            )
            return
        delay = settings.retry_backoff_seconds * 2 ** (item.attempts - 1)
        await _record(
            session,
            item.id,
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=self.runtime.clock.now() + timedelta(seconds=delay),
            claimed_at=None,
            error=short_reason(error),
        )

    async def _finish(self) -> None:
        """Close announcements that have settled and send their authors the report."""
        async with self.runtime.sessions() as session:
            await announcements.finish_complete(session=session, now=self.runtime.clock.now())
            reports = await announcements.claim_reports(
                session=session, now=self.runtime.clock.now()
            )
        for report in reports:
            await self._send_report(report)

    async def _send_report(self, report: announcements.Report) -> None:
        """Tell the author how their announcement went (best effort)."""
        try:
            await self.application.bot.send_message(
                chat_id=report.chat_id, text=render_report(report, self.runtime.settings.tz)
            )
        except TelegramError:
            _log.warning("could not send the report of announcement %s", report.announcement_id)

    async def next_due(self) -> datetime | None:
        """The earliest time a pending delivery or a scheduled announcement becomes due."""
        async with self.runtime.sessions() as session:
            retry = (
                await session.exec(
                    select(func.min(Delivery.next_attempt_at)).where(
                        col(Delivery.status) == DeliveryStatus.PENDING
                    )
                )
            ).one()
            scheduled = (
                await session.exec(
                    select(func.min(Announcement.send_at)).where(
                        col(Announcement.status) == AnnouncementStatus.SCHEDULED
                    )
                )
            ).one()
        moments = [m for m in (retry, scheduled) if m is not None]
        return min(moments) if moments else None


def dispatcher_of(application: AsaApplication) -> Dispatcher:
    """This process's dispatcher (one per application, kept in the runtime)."""
    runtime = application.runtime
    dispatcher = runtime.outbox
    if not isinstance(dispatcher, Dispatcher) or dispatcher.application is not application:
        dispatcher = Dispatcher(application)
        runtime.outbox = dispatcher
        runtime.activity.workers.append(dispatcher)
    return dispatcher


async def run_due(application: AsaApplication) -> int:
    """Do everything the outbox has due now (tests call this instead of waiting for an alarm)."""
    return await dispatcher_of(application).run_due()


def reason_label(reason: str, t: Translator) -> str:
    """A failure reason in words: the known kinds translated, the detail kept for support."""
    kind = reason.split(":", 1)[0]
    labels = {
        "interrupted": t("broadcast.reason.interrupted"),
        "TimedOut": t("broadcast.reason.timeout"),
        "NetworkError": t("broadcast.reason.network"),
        "BadRequest": t("broadcast.reason.rejected"),
    }
    label = labels.get(kind)
    if label is None:
        return reason
    return label if reason == kind else f"{label} ({reason})"


def render_report(report: announcements.Report, tz: ZoneInfo) -> str:
    """The author's report, in the author's language."""
    t = translator(report.language)
    lines = [
        t("broadcast.report.title", id=report.announcement_id),
        t("broadcast.report.delivered", count=report.delivered),
        t("broadcast.report.blocked", count=report.blocked),
        t("broadcast.report.failed", count=report.failed),
    ]
    lines.extend(
        t("broadcast.report.reason", reason=reason_label(reason, t), count=number)
        for reason, number in sorted(report.reasons.items())
    )
    lines.append(
        t("broadcast.report.duration", duration=format_duration(report.seconds, lang=t.lang))
    )
    return "\n".join(lines)
