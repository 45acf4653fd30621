"""The one place that wires the bot: build_application(settings) and its lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any, cast

from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

from bot import metrics
from bot.clock import Clock
from bot.config import Settings
from bot.context import AsaApplication, AsaContext
from bot.delivery import scheduler as outbox
from bot.handlers import register_all
from bot.intake import InboxWorker
from bot.lastseen import LastSeen
from bot.leader import WEBHOOK_LOCK, Leadership, taking_turns
from bot.runtime import Activity, Runtime
from bot.telegram_bot import AsaBot, GuardedRequest, PollRequest, retry_after_seconds
from bot.update_processor import PerPersonUpdateProcessor
from bot.usecases.scope import touch_people
from bot.usecases.startup import sync_districts
from bot.web.webhook import webhook_url

_log = logging.getLogger(__name__)

# Long polls are held open by Telegram for `poll_timeout` seconds; the HTTP read timeout must
# be longer, or every idle poll would end in a timeout error.
POLL_READ_SLACK_SECONDS = 10
# How long a request may wait for a free connection in the pool under a burst.
POOL_TIMEOUT_SECONDS = 10.0
SET_WEBHOOK_ATTEMPTS = 5


class TrackedQueue(asyncio.Queue[object]):
    """The update queue, counting each update from the moment it is queued until every
    handler finished with it (python-telegram-bot calls task_done then)."""

    def __init__(self, activity: Activity) -> None:
        super().__init__()
        self._activity = activity

    def put_nowait(self, item: object) -> None:
        """Queue an update (put() calls this too)."""
        super().put_nowait(item)
        self._activity.update_started()
        metrics.UPDATES_RECEIVED.labels(metrics.update_type(item)).inc()

    def task_done(self) -> None:
        """One queued update is completely processed."""
        super().task_done()
        self._activity.update_finished()


def build_bot(settings: Settings) -> AsaBot:
    """Our Bot: guarded requests, a tolerant getUpdates, Telegram's pace."""
    telegram = settings.telegram
    concurrency = settings.bot.max_concurrent_updates
    return AsaBot(
        telegram.token,
        base_url=telegram.base_url,
        base_file_url=telegram.base_file_url,
        request=GuardedRequest(
            connection_pool_size=max(8, concurrency // 4), pool_timeout=POOL_TIMEOUT_SECONDS
        ),
        poll_request=PollRequest(
            connection_pool_size=1,
            read_timeout=telegram.poll_timeout + POLL_READ_SLACK_SECONDS,
        ),
        defaults=Defaults(tzinfo=settings.tz),
        rate_limiter=AIORateLimiter(
            overall_max_rate=telegram.rate_limit,
            overall_time_period=1,
            max_retries=telegram.max_retries,
        ),
    )


def build_application(
    settings: Settings, *, clock: Clock | None = None, runtime: Runtime | None = None
) -> AsaApplication:
    """The Application with every handler, the rate limiter and the fair update processor."""
    runtime = runtime or Runtime.create(settings, clock=clock)
    processor = PerPersonUpdateProcessor(
        settings.bot.max_concurrent_updates, flood=runtime.flood, clock=runtime.clock
    )

    async def write_last_seen(telegram_ids: list[int]) -> None:
        await touch_people(runtime.db, telegram_ids=telegram_ids, now=runtime.clock.now())

    last_seen = LastSeen(write_last_seen)
    runtime.activity.workers.append(last_seen)
    application: AsaApplication = (
        ApplicationBuilder()
        .application_class(
            AsaApplication,
            kwargs={"runtime": runtime, "processor": processor, "last_seen": last_seen},
        )
        .bot(build_bot(settings))
        .update_queue(TrackedQueue(runtime.activity))
        .context_types(ContextTypes(context=AsaContext))
        .concurrent_updates(processor)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()  # type: ignore[assignment]
    )
    register_all(application)
    outbox.install(application)
    return application


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Sync reference data, start background work, then try for the replicas' lead."""
    app = cast(AsaApplication, application)
    await sync_districts(app.runtime.db, geo=app.runtime.geography)
    for hook in app.runtime.on_start:
        await hook(app)
    leadership = _leadership(app)
    app.runtime.leadership = leadership
    await leadership.start()


def _leadership(app: AsaApplication) -> Leadership:
    """The advisory-lock leader election, running this process's on_gain/on_loss hooks."""
    runtime = app.runtime

    async def gained() -> None:
        metrics.LEADER.set(1)
        for hook in runtime.on_gain:
            await hook(app)
        runtime.wake_outbox()

    async def lost() -> None:
        metrics.LEADER.set(0)
        for hook in runtime.on_loss:
            await hook(app)

    return Leadership(runtime.engine, on_gain=gained, on_loss=lost)


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close what post_init and build_application opened."""
    app = cast(AsaApplication, application)
    if app.runtime.leadership is not None:
        await app.runtime.leadership.stop()
    for hook in app.runtime.on_stop:
        await hook(app)
    await app.last_seen.flush()
    await app.runtime.close()


@contextlib.asynccontextmanager
async def running(
    application: AsaApplication, *, poll_interval: float = 0.0
) -> AsyncIterator[None]:
    """Run the bot (polling) inside an existing event loop, as run_polling would.

    PTB's run_polling would own the event loop and its signals; the bot shares its loop with
    the web server (and tests and benchmarks with themselves), so this does the same steps in
    the same order.
    """
    settings = application.runtime.settings
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    if application.updater is None:
        raise RuntimeError("the application was built without an updater")
    await application.updater.start_polling(
        poll_interval=poll_interval,
        timeout=settings.telegram.poll_timeout,
        allowed_updates=Update.ALL_TYPES,
        drop_pending_updates=False,
    )
    try:
        yield
    finally:
        if application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


@contextlib.asynccontextmanager
async def webhooking(application: AsaApplication) -> AsyncIterator[None]:
    """Run the bot in webhook mode: updates arrive through the web side's endpoint and the
    inbox table (bot/intake.py); this process processes its share of them."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    async with taking_turns(application.runtime.engine, WEBHOOK_LOCK):
        await ensure_webhook(application)
    worker = InboxWorker(
        application, concurrency=application.runtime.settings.bot.max_concurrent_updates
    )
    application.inbox = worker
    application.runtime.activity.workers.append(worker)
    worker.start()
    try:
        yield
    finally:
        await worker.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


async def ensure_webhook(application: AsaApplication) -> None:
    """Point Telegram at this deployment's webhook, unless it already is (every replica
    starts with this, one at a time under WEBHOOK_LOCK; only a change calls setWebhook, which
    Telegram rate-limits to one a second)."""
    telegram = application.runtime.settings.telegram
    url = webhook_url(application)
    wanted = sorted(Update.ALL_TYPES)
    for attempt in range(SET_WEBHOOK_ATTEMPTS):
        info = await application.bot.get_webhook_info()
        same = (
            info.url == url
            and sorted(info.allowed_updates or ()) == wanted
            and info.max_connections == telegram.max_connections
        )
        if same:
            return
        try:
            await application.bot.set_webhook(
                url=url,
                secret_token=telegram.secret_token,
                allowed_updates=wanted,
                max_connections=telegram.max_connections,
                drop_pending_updates=False,
            )
            _log.info("webhook set")
            return
        except RetryAfter as error:
            if attempt + 1 == SET_WEBHOOK_ATTEMPTS:
                raise
            # Another replica may be setting it right now: look again after the wait.
            await asyncio.sleep(retry_after_seconds(error))


def freeze_startup_objects() -> None:
    """Everything built to start (modules, SQLAlchemy's mappers and cached statements, PTB's
    handlers, the translations) lives as long as the process: collect once, then move it out
    of the garbage collector's sight (`gc.freeze`), so a full collection scans only what
    updates allocate. Without it, a full collection on a running bot paused every update for
    35-150 ms (README, Performance), the open-loop p99."""
    gc.collect()
    gc.freeze()


async def serve(application: AsaApplication) -> None:
    """`python -m bot run`: the bot (long polling) and its web side (health, metrics, pages)
    in this one event loop, until SIGTERM or SIGINT; then both stop cleanly.

    The web side starts first, so /healthz answers while the bot connects (and /readyz says
    "not yet"); on a signal, the bot stops taking updates and finishes those in flight, then
    the web side ends its live streams and stops.
    """
    freeze_startup_objects()  # before the first update, so its pause delays nobody
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if application.runtime.settings.web.enabled:
                from bot.web.server import serving

                await stack.enter_async_context(serving(application))
            webhook = application.runtime.settings.telegram.mode == "webhook"
            await stack.enter_async_context(
                webhooking(application) if webhook else running(application)
            )
            _log.info("asa is running")
            await stop.wait()
            _log.info("stopping: no new updates; finishing those in flight")
            # A second Ctrl-C while stopping interrupts at once, as people expect.
            for number in signals:
                loop.remove_signal_handler(number)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
