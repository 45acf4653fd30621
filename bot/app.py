"""The one place that wires the bot: build_application(settings) and its lifecycle."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

from bot.clock import Clock
from bot.config import Settings
from bot.context import AsaApplication, AsaContext
from bot.delivery import scheduler as outbox
from bot.handlers import register_all
from bot.runtime import Runtime
from bot.services.startup import prepare_database
from bot.update_processor import PerPersonUpdateProcessor
from storage.persistence import SqlPersistence

_log = logging.getLogger(__name__)

# Long polls are held open by Telegram for `poll_timeout` seconds; the HTTP read timeout must
# be longer, or every idle poll would end in a timeout error.
POLL_READ_SLACK_SECONDS = 10


def build_application(
    settings: Settings, *, clock: Clock | None = None, runtime: Runtime | None = None
) -> AsaApplication:
    """The Application with every handler, the rate limiter, persistence and the processor."""
    runtime = runtime or Runtime.create(settings, clock=clock)
    processor = PerPersonUpdateProcessor(settings.bot.max_concurrent_updates)
    context_types = ContextTypes(context=AsaContext)
    application: AsaApplication = (
        ApplicationBuilder()
        .application_class(AsaApplication, kwargs={"runtime": runtime})
        .token(settings.telegram.token)
        .base_url(settings.telegram.base_url)
        .base_file_url(settings.telegram.base_file_url)
        .context_types(context_types)
        .defaults(Defaults(tzinfo=settings.tz))
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=settings.telegram.rate_limit,
                overall_time_period=1,
                max_retries=settings.telegram.max_retries,
            )
        )
        .persistence(SqlPersistence(runtime.sessions))
        .concurrent_updates(processor)
        .connection_pool_size(max(8, settings.bot.max_concurrent_updates // 4))
        .get_updates_read_timeout(settings.telegram.poll_timeout + POLL_READ_SLACK_SECONDS)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()  # type: ignore[assignment]
    )
    processor.set_after_update(application.update_persistence)
    register_all(application)
    outbox.install(application)
    return application


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Sync reference data and start background work once the bot is connected."""
    app = cast(AsaApplication, application)
    await prepare_database(app.runtime)
    for hook in app.runtime.extras.get("post_init_hooks", []):
        await hook(app)


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close what post_init and build_application opened."""
    app = cast(AsaApplication, application)
    for hook in app.runtime.extras.get("shutdown_hooks", []):
        await hook(app)
    await app.runtime.close()


@contextlib.asynccontextmanager
async def running(
    application: AsaApplication, *, poll_interval: float = 0.0
) -> AsyncIterator[None]:
    """Run the bot (polling) inside an existing event loop, as run_polling would.

    run_polling owns the event loop and calls post_init itself; tests and benchmarks need the
    bot inside their own loop, so this does the same steps in the same order.
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


def run_polling(application: AsaApplication) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM), then shut down cleanly."""
    settings = application.runtime.settings
    application.run_polling(
        allowed_updates=Update.ALL_TYPES,
        timeout=settings.telegram.poll_timeout,
        drop_pending_updates=False,
    )
