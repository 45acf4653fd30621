"""The outbox dispatcher: deliveries sent at Telegram's pace, each claimed right before it goes.

How a pass works (`run_due`):
- deliveries a gone process left `sending` go back to `pending` (bot/services/outbox.py says
  when and why), due announcements start, due reminders are created;
- then a sliding window of sends: a pacer hands out Telegram's rate (`[telegram] rate_limit`
  a second, or the paid-broadcast rate), and for each permit one delivery is claimed, in a
  short committed transaction, and sent; at most `[broadcast] in_flight` are claimed and not
  yet recorded at any moment. One slow send (a timeout) holds one place in the window, not a
  batch. No database session is open while Telegram is asked anything;
- outcomes are recorded as they come, several in one transaction when they come together;
- announcements whose deliveries have all settled are finished, and their authors' reports
  queued as notices, which go out in the same pass.

At least once: if the process dies, the claims it held are taken over after the lease and sent
again, marked as possibly received twice (the report says how many). While sends are in
flight, this process renews its claims, so a live process is never overtaken.

Outcomes: sent; `Forbidden` (blocked the bot, account deleted) -> `blocked` and the person is
marked unreachable, no retry; `RetryAfter` (429) -> back to pending after the wait, and the
whole dispatcher pauses for that long (Telegram's limit is per bot, not per chat); timeouts and
5xx -> pending again with exponential backoff until `max_attempts`, then `failed` with a short
reason (never the message text); any other Bad Request -> `failed` at once. A timed-out send
may have arrived, so its retry counts as possibly received twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, MessageEntity
from telegram.constants import FloodLimit
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut

from bot.context import AsaApplication
from bot.delivery.notifier import Addressee, languages, render_notice
from bot.runtime import Runtime
from bot.services import announcements, outbox
from bot.services.outbox import Claimed, Outcome
from storage import notifications
from storage.models import Announcement, AnnouncementKind, DeliveryStatus

_log = logging.getLogger(__name__)

# Bad Requests that mean the chat is gone for good: treated like a block.
GONE_CHAT_HINTS = ("chat not found", "user is deactivated", "bot was blocked")
MAX_ERROR_CHARS = 120
# How long shutting down waits for the sends in flight to be answered and recorded.
STOP_GRACE_SECONDS = 30
# The pacer's burst, in seconds' worth of its rate: enough to catch up after a slow claim,
# small enough that burst plus rate stay within Telegram's per-second allowance.
BURST_SECONDS = 0.5
# Broadcast texts kept rendered between claims (an announcement is sent in many claims).
CACHED_TEXTS = 16
# Finish, then send the reports that finishing queued: at most this many rounds per pass.
MAX_ROUNDS = 3


@dataclass(frozen=True)
class Content:
    """What one recipient receives."""

    text: str
    entities: tuple[MessageEntity, ...] | None = None
    reply_markup: InlineKeyboardMarkup | None = None


# Renders the content of automatic announcements (reminders) for a batch of recipients:
# (session, runtime, announcement, person ids) -> {person id: content}.
Renderer = Callable[[AsyncSession, Runtime, Announcement, list[int]], Awaitable[dict[int, Content]]]


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds."""
    # The public property warns about its int/timedelta migration in PTB 22; the private
    # timedelta is what python-telegram-bot's own rate limiter reads.
    value = getattr(error, "_retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return 1.0


def may_have_arrived(error: TelegramError) -> bool:
    """Whether a failed send may still have reached the chat: a request that went out and
    whose answer never came (not one that never left: no connection, no free slot)."""
    if not isinstance(error, TimedOut):
        return False
    return not isinstance(error.__cause__, httpx.PoolTimeout | httpx.ConnectTimeout)


def short_reason(error: BaseException) -> str:
    """A few words on why a send failed, safe to store (never the message text)."""
    name = type(error).__name__
    message = str(error).strip()
    return f"{name}: {message}"[:MAX_ERROR_CHARS] if message else name


class Pacer:
    """Permits at `rate` a second, up to a small burst; what is not used can be given back."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        # When the next permit is due; permits accumulate while it lies in the past, up to
        # `burst` of them (the one due at `_next` and those due after it, until now).
        self._next = clock() - (self.burst - 1) * self.interval

    async def take(self, most: int) -> int:
        """Wait for one permit, then take as many as are due, up to `most` (at least 1)."""
        now = self._clock()
        if self._next > now:
            await self._sleep(self._next - now)
            now = self._clock()
        start = max(self._next, now - (self.burst - 1) * self.interval)
        due = 1 + int((now - start) / self.interval + 1e-9)  # 1e-9: float error
        taken = max(1, min(most, due, self.burst))
        self._next = start + taken * self.interval
        return taken

    def give_back(self, permits: int) -> None:
        """Permits taken but not used (nothing was due to send)."""
        if permits > 0:
            self._next -= permits * self.interval


class Recorder:
    """Writes outcomes as they come: whatever arrived while the last write ran goes in the
    next one, so outcomes cost a transaction each only when the database keeps up."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._waiting: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, outcome: Outcome) -> None:
        """Return once this outcome is committed (or raise why it could not be)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((outcome, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="outbox-recorder")
        await future

    async def _write(self) -> None:
        """Write everything waiting, then whatever came meanwhile, until nothing waits."""
        runtime = self.runtime
        while self._waiting:
            batch, self._waiting = self._waiting, []
            outcomes = [outcome for outcome, _ in batch]

            async def work(session: AsyncSession, outcomes: list[Outcome] = outcomes) -> None:
                await outbox.record(
                    session=session,
                    outcomes=outcomes,
                    instance=runtime.instance,
                    now=runtime.clock.now(),
                )

            try:
                await runtime.db.run(work)
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def kill(self) -> None:
        """Stop writing (a crash: what is not written stays claimed)."""
        if self._writer is not None:
            self._writer.cancel()


class Dispatcher:
    """Works through the outbox of one process; `run_due` does everything due right now."""

    def __init__(self, application: AsaApplication) -> None:
        self.application = application
        self.runtime = application.runtime
        self.renderers: dict[str, Renderer] = {}
        self.paused_until: datetime | None = None
        # Hooks run in each pass: before sending (reminders are created) and at its end
        # (the next alarm is set). The scheduler installs them.
        self.before_send: list[Callable[[], Awaitable[None]]] = []
        self.after_pass: list[Callable[[], Awaitable[None]]] = []
        settings = self.runtime.settings
        rate = (
            float(FloodLimit.PAID_MESSAGES_PER_SECOND)
            if settings.telegram.paid_broadcast
            else settings.telegram.rate_limit
        )
        self.pacer = Pacer(rate, burst=int(rate * BURST_SECONDS))
        self.recorder = Recorder(self.runtime)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._texts: dict[int, Content] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
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

    @property
    def lease(self) -> timedelta:
        """How long a claim lasts unless its process renews it."""
        return timedelta(seconds=self.runtime.settings.broadcast.lease_seconds)

    def start(self) -> None:
        """Run the loop as an application task (so Application.stop waits for it)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = self.application.create_task(self._loop(), name="outbox")
            self._listen()
            self.wake()

    def _listen(self) -> None:
        """On PostgreSQL, wake on work another replica queued (only the leader acts on it)."""
        engine = self.runtime.engine
        if engine.dialect.name != "postgresql" or self._listener is not None:
            return
        self._listener = asyncio.get_running_loop().create_task(
            notifications.listen(
                engine.url, outbox.CHANNEL, lambda _payload: self.wake(), on_connected=self.wake
            ),
            name="outbox-listen",
        )

    def _stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def stop(self) -> None:
        """Let the sends in flight finish and be recorded, then end the loop."""
        self._stopping = True
        self._wake.set()
        self._stop_listening()
        task, self._task = self._task, None
        if task is not None and not task.done():
            # asyncio.wait never raises, whether the task ends, fails or was cancelled.
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            if not task.done():
                self.kill()
                task.cancel()

    def kill(self) -> None:
        """End everything abruptly, mid-send (what a crash does; tests use it)."""
        self._stopping = True
        self._stop_listening()
        for sending in list(self._in_flight):
            sending.cancel()
        self.recorder.kill()
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
        """Recover, start what is due, send every due delivery, finish and report.

        Returns how many deliveries were attempted in this pass.
        """
        if not self.runtime.leads:
            # Another replica leads: the outbox is its work (Telegram's pace is the token's).
            return 0
        async with self._lock:
            await self.runtime.db.run(self._prepare)
            for hook in list(self.before_send):
                await hook()
            processed = 0
            for _ in range(MAX_ROUNDS):
                processed += await self._drain()
                if self._should_stop() or not await self.runtime.db.run(self._finish):
                    break
            for hook in list(self.after_pass):
                await hook()
        self.runtime.activity.fire()
        return processed

    async def _prepare(self, session: AsyncSession) -> None:
        """Take over what a gone process left half-sent; start due announcements."""
        runtime = self.runtime
        now = runtime.clock.now()
        resent = await outbox.recover(
            session=session,
            now=now,
            lease=self.lease,
            max_attempts=runtime.settings.broadcast.max_attempts,
        )
        if resent:
            _log.warning("%d deliveries interrupted by a stop are sent again", resent)
        await announcements.start_due(session=session, now=now)

    async def _finish(self, session: AsyncSession) -> int:
        """Finish settled announcements and queue their reports; how many copies that is."""
        runtime = self.runtime
        now = runtime.clock.now()
        await announcements.finish_complete(session=session, now=now)
        return await announcements.queue_reports(
            session=session, notifier=runtime.notifier, now=now
        )

    async def _drain(self) -> int:
        """Send every due delivery through the window; return how many were claimed."""
        settings = self.runtime.settings.broadcast
        claimed = 0
        renewing = asyncio.create_task(self._renew_while_sending(), name="outbox-renew")
        try:
            while not self._should_stop():
                await self._wait_if_paused()
                room = settings.in_flight - len(self._in_flight)
                if room <= 0:
                    await self._one_finished()
                    continue
                permits = await self.pacer.take(min(room, settings.batch_size))
                batch = await self._claim(permits)
                self.pacer.give_back(permits - len(batch))
                if not batch:
                    if not self._in_flight:
                        break
                    await self._one_finished()
                    continue
                claimed += len(batch)
                for item, content in batch:
                    sending = asyncio.create_task(self._deliver(item, content))
                    self._in_flight.add(sending)
                    sending.add_done_callback(self._in_flight.discard)
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
        finally:
            renewing.cancel()
        return claimed

    async def _one_finished(self) -> None:
        """Wait until a send in flight has been answered and recorded."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def _renew_while_sending(self) -> None:
        """Keep this process's claims fresh while it has sends in flight, and take over the
        claims of a sender that died meanwhile (a long broadcast must not make them wait for
        its end: they go out next, about one lease after the death)."""
        runtime = self.runtime
        every = max(0.05, self.lease.total_seconds() / 4)
        while True:
            await asyncio.sleep(every)

            async def work(session: AsyncSession) -> None:
                now = runtime.clock.now()
                # Every claim of ours, including sends answered but not yet recorded.
                await outbox.renew(session=session, instance=runtime.instance, now=now)
                # Ours were just renewed, so only a gone sender's claims are stale here. (Not
                # only while sends are in flight: at Telegram's pace the window is often empty
                # at the moment this looks.)
                resent = await outbox.recover(
                    session=session,
                    now=now,
                    lease=self.lease,
                    max_attempts=runtime.settings.broadcast.max_attempts,
                )
                if resent:
                    _log.warning("%d deliveries a stopped sender left are sent again", resent)

            try:
                await runtime.db.run(work)
            except Exception:
                _log.warning("could not renew the outbox's claims", exc_info=True)

    async def _wait_if_paused(self) -> None:
        """After a 429, nothing is sent until Telegram's wait is over."""
        while self.paused_until is not None and not self._should_stop():
            remaining = (self.paused_until - self.runtime.clock.now()).total_seconds()
            if remaining <= 0:
                self.paused_until = None
                return
            await asyncio.sleep(min(remaining, 0.2))

    # -- claiming and rendering -----------------------------------------------------------

    async def _claim(self, limit: int) -> list[tuple[Claimed, Content | None]]:
        """Claim up to `limit` due deliveries, committed, and render what each says."""
        runtime = self.runtime

        async def work(session: AsyncSession) -> list[tuple[Claimed, Content | None]]:
            batch = await outbox.claim(
                session=session, now=runtime.clock.now(), limit=limit, instance=runtime.instance
            )
            if not batch:
                return []
            contents = await self._contents(session, batch)
            return [(item, contents.get(item.id)) for item in batch]

        return await runtime.db.run(work)

    async def _contents(self, session: AsyncSession, batch: list[Claimed]) -> dict[int, Content]:
        """What each claimed delivery says (a broadcast's text, a reminder, a notice)."""
        result: dict[int, Content] = {}
        by_announcement: dict[int, list[Claimed]] = {}
        for item in batch:
            by_announcement.setdefault(item.announcement_id, []).append(item)
        for announcement_id, items in by_announcement.items():
            cached = self._texts.get(announcement_id)
            if cached is not None:
                result.update({i.id: cached for i in items})
                continue
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
            self._remember(announcement_id, content)
            result.update({i.id: content for i in items})
        return result

    def _remember(self, announcement_id: int, content: Content) -> None:
        """Keep a broadcast's rendered text for its next claims."""
        if len(self._texts) >= CACHED_TEXTS:
            self._texts.pop(next(iter(self._texts)))
        self._texts[announcement_id] = content

    async def _notice_contents(
        self, session: AsyncSession, announcement: Announcement, items: list[Claimed]
    ) -> dict[int, Content]:
        """A notice in each recipient's language."""
        settings = self.runtime.settings
        chosen = await languages(
            session,
            [Addressee(i.id, i.person_id, i.chat_id) for i in items],
            default=settings.bot.default_language,
        )
        contents: dict[int, Content] = {}
        for item in items:
            text, markup = render_notice(announcement, lang=chosen[item.id], tz=settings.tz)
            contents[item.id] = Content(text=text, reply_markup=markup)
        return contents

    def _broadcast_content(self, announcement: Announcement) -> Content:
        """A coordinator's text, with its Telegram formatting kept as entities."""
        entities = tuple(
            MessageEntity.de_json(e, self.application.bot) for e in announcement.entities or []
        )
        return Content(text=announcement.text, entities=entities or None)

    # -- one send -------------------------------------------------------------------------

    async def _deliver(self, item: Claimed, content: Content | None) -> None:
        """Send one message (no database session is open), then record what happened."""
        outcome = await self._send(item, content)
        try:
            await self.recorder.record(outcome)
        except Exception:
            # Still claimed: once the lease runs out it is sent again, marked as such.
            _log.warning("could not record delivery %s", item.id, exc_info=True)

    async def _send(self, item: Claimed, content: Content | None) -> Outcome:
        """Ask Telegram, and say what the answer means for this delivery."""
        runtime = self.runtime
        if content is None or not content.text:
            return Outcome(item.id, DeliveryStatus.FAILED, item.attempts, error="nothing to send")
        began = runtime.clock.now()
        try:
            message = await self.application.bot.send_message(
                chat_id=item.chat_id,
                text=content.text,
                entities=content.entities,
                reply_markup=content.reply_markup,
                allow_paid_broadcast=True if runtime.settings.telegram.paid_broadcast else None,
            )
        except RetryAfter as error:
            return self._retry_later(item, error)
        except Forbidden:
            return self._blocked(item, "blocked")
        except BadRequest as error:
            if any(hint in str(error).lower() for hint in GONE_CHAT_HINTS):
                return self._blocked(item, "chat gone")
            return Outcome(item.id, DeliveryStatus.FAILED, item.attempts, error=short_reason(error))
        except TelegramError as error:
            return self._backoff(item, error, began)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            _log.exception("delivery %s failed unexpectedly", item.id)
            return Outcome(item.id, DeliveryStatus.FAILED, item.attempts, error=short_reason(error))
        return Outcome(
            item.id,
            DeliveryStatus.SENT,
            item.attempts,
            sent_at=runtime.clock.now(),
            message_id=message.message_id,
        )

    def _retry_later(self, item: Claimed, error: RetryAfter) -> Outcome:
        """429: back to pending after the wait (not counted as an attempt); pause everything."""
        wait = timedelta(seconds=retry_after_seconds(error))
        until = self.runtime.clock.now() + wait
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until
        _log.warning("Telegram asked to wait %.1f s; pausing the outbox", wait.total_seconds())
        return Outcome(item.id, DeliveryStatus.PENDING, item.attempts - 1, next_attempt_at=until)

    @staticmethod
    def _blocked(item: Claimed, reason: str) -> Outcome:
        """The person blocked the bot: never retried, and left out of later audiences."""
        return Outcome(
            item.id, DeliveryStatus.BLOCKED, item.attempts, person_id=item.person_id, error=reason
        )

    def _backoff(self, item: Claimed, error: TelegramError, began: datetime) -> Outcome:
        """Timeouts and server errors: retry later, doubling the wait, up to max_attempts.

        The wait counts from when the failed attempt began: a timeout has already waited, so
        its first retry goes at once instead of holding the end of a broadcast back.
        """
        settings = self.runtime.settings.broadcast
        reason = short_reason(error)
        if item.attempts >= settings.max_attempts:
            return Outcome(item.id, DeliveryStatus.FAILED, item.attempts, error=reason)
        delay = timedelta(seconds=settings.retry_backoff_seconds * 2 ** (item.attempts - 1))
        return Outcome(
            item.id,
            DeliveryStatus.PENDING,
            item.attempts,
            next_attempt_at=max(began + delay, self.runtime.clock.now()),
            error=reason,
            resent=may_have_arrived(error),
        )

    # -- alarms ---------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        """The earliest time something in the outbox becomes due."""

        async def work(session: AsyncSession) -> datetime | None:
            return await outbox.next_due(session=session, lease=self.lease)

        return await self.runtime.db.run(work)


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
