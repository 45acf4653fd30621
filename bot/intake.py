"""Webhook mode: updates come in through the inbox table, and any replica processes them.

The webhook endpoint (bot/web/app.py) writes each update down and answers 200; this worker
claims updates (bot/services/inbox.py: one person's one at a time, in order, across every
replica), runs each through the same update processor as polling does (flood control, a
concurrency slot, every handler), and marks it done. A replica that dies leaves its claims to
expire; another replica takes them over.

It wakes when this process stored an update, when PostgreSQL says another replica did
(LISTEN asa_inbox), and every `POLL_SECONDS` in case a notification was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update

from bot.context import AsaApplication
from bot.services import inbox as inbox_service
from bot.services.inbox import Claimed
from bot.telegram_bot import Throttled
from bot.usecases import inbox
from storage import notifications
from storage.database import BeforeCommit, DatabaseUnavailable, before_commit

_log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# A claim not renewed for this long belongs to a dead replica: the people whose updates it held
# wait this long. Shorter is faster at the door, but a live replica cut off from the database
# for longer (it cannot renew) would see its updates taken over while it still works on them;
# 20 s outlasts the 15 s database blink the fault tests use.
LEASE = timedelta(seconds=20)
RENEW_SECONDS = 4.0
# Processed updates are kept this long (a late copy from Telegram is recognised), then purged.
KEEP_DONE = timedelta(days=1)
PURGE_EVERY_SECONDS = 3600.0
# A graceful stop (SIGTERM) waits this long for updates in flight, then hands them back.
STOP_GRACE_SECONDS = 7.0


class InboxWorker:
    """Claims, processes and finishes webhook updates in this process."""

    def __init__(self, application: AsaApplication, *, concurrency: int) -> None:
        self.application = application
        self.runtime = application.runtime
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._claiming = False
        self._tasks: list[asyncio.Task[None]] = []
        self._throttle = Throttled()
        self.processed = 0
        self.listening = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Begin claiming (and listening, on PostgreSQL)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._claim_loop(), name="asa:inbox"),
            loop.create_task(self._renew_loop(), name="asa:inbox-renew"),
            loop.create_task(self._purge_loop(), name="asa:inbox-purge"),
        ]
        if self.runtime.engine.dialect.name == "postgresql":
            self._tasks.append(loop.create_task(self._listen(), name="asa:inbox-listen"))
        self.wake()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Claim nothing more; finish what is in flight within `grace`, hand back the rest."""
        self._stopping.set()
        self._wake.set()
        # A claim under way when the signal came starts its updates when it returns: wait for
        # the claim loop to end, so those are in flight too (they were missed, then failed
        # once the HTTP client closed, and were marked done with their replies lost).
        if self._tasks:
            await asyncio.wait([self._tasks[0]], timeout=grace)
        unfinished = list(self._in_flight.values())
        if unfinished:
            _, late = await asyncio.wait(unfinished, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if late:
                with contextlib.suppress(Exception):
                    handed = await inbox.release(self.runtime.db, me=self.runtime.instance)
                    _log.warning("stopping: %d update(s) handed back to other replicas", handed)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def wake(self) -> None:
        """Look at the inbox now."""
        self._wake.set()
        self.runtime.activity.fire()

    @property
    def idle(self) -> bool:
        """Nothing claimed and nothing asked for (for settling and graceful stops)."""
        return not self._in_flight and not self._wake.is_set() and not self._claiming

    # -- claiming -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
            if self._stopping.is_set():
                return
            free = self.concurrency - len(self._in_flight)
            if free <= 0:
                # Full: a finishing update wakes us again.
                self._wake.clear()
                continue
            self._wake.clear()
            # Between the wake-up and the tasks below, the claim itself is the work in hand.
            self._claiming = True
            try:
                claimed = await self._claim(free)
            except DatabaseUnavailable:
                continue
            except Exception:
                _log.exception("claiming webhook updates failed")
                continue
            finally:
                self._claiming = False
                self.runtime.activity.fire()
            for item in claimed:
                self._in_flight[item.update_id] = asyncio.get_running_loop().create_task(
                    self._process(item), name=f"asa:update:{item.update_id}"
                )
            if len(claimed) == free:
                self._wake.set()  # there may be more
            self.runtime.activity.fire()

    async def _claim(self, limit: int) -> list[Claimed]:
        now = self.runtime.clock.now()
        return await inbox.claim(
            self.runtime.db, me=self.runtime.instance, now=now, stale=now - LEASE, limit=limit
        )

    async def _process(self, item: Claimed) -> None:
        """Run one update through the processor and every handler, then mark it done."""
        activity = self.runtime.activity
        activity.update_started()
        try:
            update = self._parse(item)
            if update is not None:
                processor = self.application.processor
                # Every transaction of this update also records it with its person (replays
                # of it are then recognised: bot/handlers/scope.py).
                token = before_commit.set(self._stamper(item))
                try:
                    await processor.process_update(update, self.application.process_update(update))
                finally:
                    before_commit.reset(token)
            await inbox.finish(
                self.runtime.db, update_ids=[item.update_id], now=self.runtime.clock.now()
            )
            self.processed += 1
        except Exception:
            # Left claimed: its lease runs out and it is tried again (here or elsewhere).
            _log.exception("update %s could not be finished", item.update_id)
        finally:
            self._in_flight.pop(item.update_id, None)
            activity.update_finished()
            self._wake.set()

    def _stamper(self, item: Claimed) -> BeforeCommit:
        """The stamp added to each transaction while `item` is processed."""
        clock = self.runtime.clock

        async def stamp(session: AsyncSession) -> None:
            if item.person_key:
                await inbox_service.stamp(
                    session=session,
                    telegram_id=item.person_key,
                    update_id=item.update_id,
                    now=clock.now(),
                )

        return stamp

    def _parse(self, item: Claimed) -> Update | None:
        """The update, or None (logged, at a bounded rate) when it cannot be read."""
        try:
            return Update.de_json(item.payload, self.application.bot)
        except Exception as error:
            self._throttle.warning(
                "malformed",
                "update %s could not be parsed (%s); skipped",
                item.update_id,
                type(error).__name__,
            )
            return None

    async def _renew_loop(self) -> None:
        """Keep the claims of updates in flight alive, so nobody takes them over."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=RENEW_SECONDS)
            ids = list(self._in_flight)
            if ids:
                try:
                    await inbox.renew(
                        self.runtime.db,
                        me=self.runtime.instance,
                        update_ids=ids,
                        now=self.runtime.clock.now(),
                    )
                except Exception as error:
                    _log.warning("renewing claims failed (%s)", type(error).__name__)

    async def _purge_loop(self) -> None:
        """The leader forgets processed updates a day after they were done."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=PURGE_EVERY_SECONDS)
            if self._stopping.is_set() or not self.runtime.leads:
                continue
            try:
                await inbox.purge(self.runtime.db, before=self.runtime.clock.now() - KEEP_DONE)
            except Exception as error:
                _log.warning("purging the inbox failed (%s)", type(error).__name__)

    # -- PostgreSQL notifications ---------------------------------------------------------

    async def _listen(self) -> None:
        """LISTEN for updates stored by any replica; look again after each (re)connection."""
        await notifications.listen(
            self.runtime.engine.url,
            inbox.CHANNEL,
            self._notified,
            on_connected=self.wake,
            on_state=self._listening,
        )

    def _listening(self, listening: bool) -> None:
        self.listening = listening

    def _notified(self, *_: object) -> None:
        self.wake()
