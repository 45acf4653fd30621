"""Wiring: python-telegram-bot's JobQueue as an alarm clock for the outbox and reminders.

The database says what is due; alarms only say "look now". Every alarm has a stable id and is
added with `replace_existing=True`, so rescheduling replaces rather than duplicates, and nothing
is pickled (PTB's JobQueue keeps jobs in memory). At start-up every future alarm is set again
from the tables, and a periodic sweep catches anything an alarm missed (say, the bot was down).
Nothing starts twice either way: announcements start through a conditional UPDATE,
reminders are unique per (event, kind), deliveries are claimed before they are sent.

Call `install(application)` once from `build_application`; other families call
`announcement_changed(...)` and `event_changed(...)` after they change what is scheduled.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram.ext import Application, JobQueue

from bot.context import AsaApplication, AsaContext
from bot.delivery import reminders as rendering
from bot.delivery.dispatcher import Dispatcher, dispatcher_of, run_due
from bot.services import announcements, reminders
from bot.services.reminders import EventTimes

_log = logging.getLogger(__name__)

SWEEP_JOB = "asa:outbox:sweep"
START_JOB = "asa:outbox:start"
NEXT_JOB = "asa:outbox:next"

__all__ = ["announcement_changed", "event_changed", "install", "run_due"]


def install(application: AsaApplication) -> None:
    """Add the outbox's start-up and shutdown hooks (call once from build_application)."""
    application.runtime.on_start.append(_start)
    application.runtime.on_stop.append(_stop)
    application.runtime.on_gain.append(schedule_all)


def _job_queue(application: AsaApplication) -> JobQueue[Any] | None:
    """The application's JobQueue (None only if APScheduler is missing)."""
    queue: JobQueue[Any] | None = application.job_queue
    return queue


def _alarm(application: AsaApplication, job_id: str, when: datetime) -> None:
    """Set (or move) the alarm `job_id` to ring at `when` on the bot's clock."""
    queue = _job_queue(application)
    if queue is None:
        return
    # The bot's clock may be shifted (tests); APScheduler runs on real time, so convert the
    # moment into a delay from now.
    delay = max(0.0, (when - application.runtime.clock.now()).total_seconds())
    queue.run_once(
        _ring,
        when=timedelta(seconds=delay),
        name=job_id,
        job_kwargs={
            "id": job_id,
            "replace_existing": True,
            "misfire_grace_time": None,
            "coalesce": True,
        },
    )


def _cancel_alarm(application: AsaApplication, job_id: str) -> None:
    """Remove an alarm if it is set."""
    queue = _job_queue(application)
    if queue is None:
        return
    job = queue.scheduler.get_job(job_id)
    if job is not None:
        job.remove()


async def _ring(context: AsaContext) -> None:
    """An alarm: wake the dispatcher, which reads what is due from the database."""
    dispatcher_of(cast(AsaApplication, context.application)).wake()


async def _start_loop(context: AsaContext) -> None:
    """Start the dispatcher's loop once the application is running."""
    dispatcher_of(cast(AsaApplication, context.application)).start()


async def _start(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """post_init: the dispatcher, its hooks, the sweep and every alarm from the tables."""
    app = cast(AsaApplication, application)
    dispatcher = dispatcher_of(app)
    _prepare(dispatcher)
    queue = _job_queue(app)
    if queue is None:
        _log.error("no JobQueue: install python-telegram-bot[job-queue]; nothing will be sent")
        return
    interval = app.runtime.settings.broadcast.sweep_interval_seconds
    queue.run_repeating(
        _ring,
        interval=interval,
        first=interval,
        name=SWEEP_JOB,
        job_kwargs={"id": SWEEP_JOB, "replace_existing": True, "coalesce": True},
    )
    # The loop must be an application task (Application.stop waits for it before closing the
    # HTTP client), and those can only be created once the application runs: a job does it.
    queue.run_once(
        _start_loop,
        when=0,
        name=START_JOB,
        job_kwargs={"id": START_JOB, "replace_existing": True, "misfire_grace_time": None},
    )
    # The alarms from the tables are set by schedule_all when this process leads
    # (runtime.on_gain): only the leader's alarms would do anything.


def _prepare(dispatcher: Dispatcher) -> None:
    """Reminders render through the dispatcher and are created before each pass sends."""
    for kind in reminders.RSVP_KINDS:
        dispatcher.renderers[kind.value] = rendering.render
    if not dispatcher.before_send:
        dispatcher.before_send.append(_materialise_reminders(dispatcher))
        dispatcher.after_pass.append(_set_next_alarm(dispatcher))


def _materialise_reminders(dispatcher: Dispatcher) -> Any:
    """A hook that creates every due reminder (with its deliveries)."""

    async def hook() -> None:
        runtime = dispatcher.runtime

        async def work(session: AsyncSession) -> None:
            await reminders.materialise_due(
                session=session,
                notifier=runtime.notifier,
                offsets=runtime.settings.reminders,
                now=runtime.clock.now(),
            )

        await runtime.db.run(work)

    return hook


def _set_next_alarm(dispatcher: Dispatcher) -> Any:
    """A hook that sets alarms: the next retry or announcement, and every event's reminders."""

    async def hook() -> None:
        when = await dispatcher.next_due()
        if when is not None:
            _alarm(dispatcher.application, NEXT_JOB, when)
        # Events created or moved since the last pass get their alarms here at the latest
        # (the sweep runs a pass), even if nobody called event_changed.
        await _schedule_events(dispatcher.application)

    return hook


async def _stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Shutdown: end the loop (normally Application.stop has already waited for it)."""
    app = cast(AsaApplication, application)
    await dispatcher_of(app).stop()


async def schedule_all(application: AsaApplication) -> None:
    """Set an alarm for every scheduled announcement and every reminder still to come."""

    async def work(session: AsyncSession) -> list[tuple[int, datetime]]:
        return await announcements.scheduled(session=session)

    for announcement_id, send_at in await application.runtime.db.run(work):
        _alarm(application, _announcement_job(announcement_id), send_at)
    await _schedule_events(application)
    dispatcher_of(application).wake()


async def _schedule_events(application: AsaApplication) -> None:
    """(Re)set the reminder alarms of every event that has not ended."""
    now = application.runtime.clock.now()

    async def work(session: AsyncSession) -> list[tuple[int, EventTimes]]:
        return await reminders.coming_events(session=session, now=now)

    for event_id, times in await application.runtime.db.run(work):
        _event_alarms(application, event_id, times, now)


def _announcement_job(announcement_id: int) -> str:
    """The stable alarm id of a scheduled announcement."""
    return f"asa:announcement:{announcement_id}"


def _reminder_job(event_id: int, kind: reminders.ReminderKind) -> str:
    """The stable alarm id of one reminder of one event."""
    return f"asa:reminder:{event_id}:{kind.value}"


def _event_alarms(
    application: AsaApplication, event_id: int, times: EventTimes, now: datetime
) -> None:
    """(Re)set the alarms of an event's reminders; remove those that no longer apply."""
    offsets = application.runtime.settings.reminders
    coming = reminders.next_alarms(times, offsets, now)
    for kind in reminders.ReminderKind:
        job_id = _reminder_job(event_id, kind)
        if kind in coming:
            _alarm(application, job_id, coming[kind])
        else:
            _cancel_alarm(application, job_id)


def announcement_changed(
    application: AsaApplication, announcement_id: int, send_at: datetime | None
) -> None:
    """After an announcement is created, rescheduled (send_at) or cancelled (None)."""
    job_id = _announcement_job(announcement_id)
    if send_at is None:
        _cancel_alarm(application, job_id)
    else:
        _alarm(application, job_id, send_at)
    dispatcher_of(application).wake()


async def event_changed(application: AsaApplication, event_id: int) -> None:
    """After an event is created, moved or cancelled: its reminder alarms follow."""

    async def work(session: AsyncSession) -> EventTimes | None:
        return await reminders.event_times(session=session, event_id=event_id)

    times = await application.runtime.db.run(work)
    if times is None:
        return
    _event_alarms(application, event_id, times, application.runtime.clock.now())
    dispatcher_of(application).wake()
