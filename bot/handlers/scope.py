"""The guards every update meets first: private chats only, then the sender resolved once.

After these, every handler finds `context.actor` (bot/scope.py): the person, their rights,
their language and the flow they are in, read in one short transaction.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.commands import BY_NAME
from bot.context import AsaApplication, AsaContext
from bot.flows import FLOWS, open_run
from bot.handlers import GROUP_GUARDS, GROUP_SCOPE
from bot.handlers.dispatch import reask_open_flow
from bot.usecases.scope import resolve_actor

_log = logging.getLogger(__name__)


async def ignore_non_private(update: Update, context: AsaContext) -> None:
    """Stay silent in groups and channels: personal data never goes to a shared chat."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or update.effective_user is None:
        raise ApplicationHandlerStop


async def resolve_scope(update: Update, context: AsaContext) -> None:
    """Resolve the sender; answer a flood or an expired flow before anything else runs."""
    user = update.effective_user
    if user is None:  # pragma: no cover - ignore_non_private stops these
        raise ApplicationHandlerStop
    settings = context.settings

    def timeout_of(name: str) -> timedelta:
        flow = FLOWS.get(name)
        if flow is not None:
            return flow.timeout(settings)
        return timedelta(minutes=settings.bot.flow_timeout_minutes)

    actor, stale = await resolve_actor(
        context.db,
        telegram_id=user.id,
        config_admins=settings.bot.admins,
        default_language=settings.bot.default_language,
        now=context.clock.now(),
        timeout_of=timeout_of,
        update_id=update.update_id,
    )
    context.actor = actor
    if actor.facts.get("applied"):
        await _answer_replay(update, context)
    if stale:
        context.app.last_seen.note(user.id)
    if context.app.processor.take_warning(update.update_id):
        await context.bot.send_message(user.id, context.t("flood.slow_down"))
        raise ApplicationHandlerStop
    if actor.expired_flow is not None and update.effective_message is not None:
        await _say_expired(context, actor.expired_flow)


async def _answer_replay(update: Update, context: AsaContext) -> None:
    """An update processed again after the replica that first did it died: its effects are in
    the database already, and whether its answer reached the person is unknown. Never leave
    them without one, and never apply it twice:
    - a check-in is run again (it is idempotent, and answers "checked in at 09.12");
    - in a flow, the question now open is asked again;
    - anything else is acknowledged as recorded, with where the person stands now (a
      registration confirmed: "welcome back, <name>", so they know it went through).
    Returns only for the check-in; otherwise stops the update here."""
    _log.info("update %s was already applied; answering, not applying it again", update.update_id)
    if _is_check_in(update):
        return
    if open_run(context) is not None:
        await reask_open_flow(update, context)
    else:
        await context.bot.send_message(context.actor.telegram_id, _recorded_text(context))
    raise ApplicationHandlerStop


def _recorded_text(context: AsaContext) -> str:
    """The answer to an applied update whose own answer may never have gone out."""
    text = context.t("update.replayed")
    if context.actor.registered:
        name = context.actor.name or ""
        text += "\n\n" + context.t("start.welcome_back", name=name)
    return text


def _is_check_in(update: Update) -> bool:
    """A shared location, or a command the registry marks as a check-in when it comes with an
    argument (`/checkin CODE`, a scanned QR's `/start ci-…`)."""
    message = update.message
    if message is None:
        return False
    if message.location is not None:
        return True
    words = (message.text or "").split()
    if len(words) != 2 or not words[0].startswith("/"):
        return False
    entry = BY_NAME.get(words[0][1:].split("@", 1)[0].lower())
    return entry is not None and entry.reruns_with_argument


async def _say_expired(context: AsaContext, name: str) -> None:
    """Tell the person, once, that their unfinished flow was dropped."""
    flow = FLOWS.get(name)
    title = context.t(flow.title_key) if flow is not None else ""
    await context.bot.send_message(context.actor.telegram_id, context.t("flow.expired", flow=title))


def register(application: AsaApplication) -> None:
    """Both guards, before every other handler."""
    application.add_handler(TypeHandler(Update, ignore_non_private), group=GROUP_GUARDS)
    application.add_handler(TypeHandler(Update, resolve_scope), group=GROUP_SCOPE)
