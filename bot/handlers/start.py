"""/start: the registration conversation (language, privacy consent, then the steps).

One persistent, named ConversationHandler holds the whole flow, so a person half-way through
continues after a restart. Its entry points are /start (also with a `ci-<token>` deep link from
an event's QR code) and /profile; the steps themselves are in `bot/handlers/registration.py`.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, cast

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
)
from telegram.warnings import PTBUserWarning

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_MAIN, checkin
from bot.handlers import registration as steps
from bot.handlers.core import language_keyboard
from bot.handlers.updates import message_of, query_of, user_of
from bot.i18n import LANGUAGES
from bot.services import people
from bot.services import registration as reg

CHOOSING_LANGUAGE = steps.LANGUAGE
CONSENTING = steps.CONSENT
START_LANG_PREFIX = "start-lang:"
CHECKIN_PAYLOAD = re.compile(r"ci-([A-Za-z0-9_-]{1,61})")
CONVERSATION_NAME = "registration"
# Before the main group, so the conversation's /cancel wins over core's "nothing to cancel";
# every callback raises ApplicationHandlerStop so the main group never answers twice.
GROUP_FLOWS = GROUP_MAIN - 1
DAYS_PER_YEAR = 365


def _payload(context: AsaContext) -> str:
    """The deep-link payload of /start, if any."""
    return context.args[0] if context.args else ""


def _checkin_token(context: AsaContext) -> str | None:
    """The event token of a `/start ci-<token>` deep link (None for anything else)."""
    # Telegram's deep links carry at most 64 characters of A-Za-z0-9_-; anything else was typed.
    match = CHECKIN_PAYLOAD.fullmatch(_payload(context))
    return match[1] if match else None


async def start(update: Update, context: AsaContext) -> str | int:
    """Check in or welcome back a registered person; greet a newcomer and ask for a language."""
    user = user_of(update)
    token = _checkin_token(context)
    async with context.sessions() as session:
        person = await people.by_telegram_id(session=session, telegram_id=user.id)
    if person is not None:
        steps.clear_flow(context)
        if token is not None:
            await checkin.check_in_with_token(update, context, token)
        else:
            await message_of(update).reply_text(
                context.t("start.welcome_back", name=person.full_name or "")
            )
        return ConversationHandler.END
    if token is not None:
        # Kept in the persisted user data: it survives the registration and any restart.
        cast(dict[str, Any], context.user_data)[steps.PENDING_CHECKIN_KEY] = token
    steps.new_flow(context, steps.MODE_REGISTER, {})
    return await ask_language(update, context)


async def ask_language(update: Update, context: AsaContext) -> str:
    """The greeting, in Thai first, with the two languages as buttons."""
    if _checkin_token(context) is not None:
        await message_of(update).reply_text(context.t("reg.checkin_after_registration"))
    sent = await context.bot.send_message(
        user_of(update).id,
        context.t("start.greeting"),
        reply_markup=language_keyboard(START_LANG_PREFIX),
    )
    steps.remember_question(context, sent)
    return CHOOSING_LANGUAGE


async def language_chosen(update: Update, context: AsaContext) -> str | None:
    """Remember the language, confirm in it, and show the privacy notice."""
    query, data = query_of(update)
    lang = data.removeprefix(START_LANG_PREFIX)
    if lang not in LANGUAGES or not steps.is_live(update, context):
        await query.answer(context.t("error.stale_button"))
        return None
    context.set_lang(lang)
    await query.answer()
    await query.edit_message_text(context.t("start.language_set"))
    return await ask_consent(update, context)


def privacy_notice(context: AsaContext) -> str:
    """The PDPA notice, with this deployment's retention period and notice version."""
    days = context.settings.bot.data_retention_days
    if days % DAYS_PER_YEAR == 0:
        retention = context.t.plural("privacy.retention_years", days // DAYS_PER_YEAR)
    else:
        retention = context.t.plural("privacy.retention_days", days)
    return context.t(
        "privacy.notice", retention=retention, version=context.settings.bot.privacy_notice_version
    )


async def ask_consent(update: Update, context: AsaContext) -> str:
    """Show the notice with agree / decline."""
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(context.t("privacy.agree"), callback_data="reg:consent:yes")],
            [InlineKeyboardButton(context.t("privacy.decline"), callback_data="reg:consent:no")],
        ]
    )
    sent = await context.bot.send_message(
        user_of(update).id, privacy_notice(context), reply_markup=markup
    )
    steps.remember_question(context, sent)
    return CONSENTING


async def consent_answered(update: Update, context: AsaContext) -> str | int | None:
    """Agree: note the consent in the draft and go on. Decline: keep nothing at all."""
    query, data = query_of(update)
    if not steps.is_live(update, context):
        await steps.refuse_stale(update, context)
        return None
    await query.answer()
    if data == "reg:consent:no":
        # Worded before the user data (and with it the language) is dropped.
        declined = context.t("privacy.declined")
        await steps.drop_telegram_state(context.application, user_of(update).id)
        await query.edit_message_text(declined)
        return ConversationHandler.END
    reg.record_consent(
        steps.draft_of(context),
        now=context.clock.now(),
        version=context.settings.bot.privacy_notice_version,
    )
    await cast(Message, query.message).edit_reply_markup(None)
    await context.bot.send_message(user_of(update).id, context.t("privacy.agreed"))
    return await steps.ask_next(update, context)


async def cancel(update: Update, context: AsaContext) -> int:
    """Leave the flow; nothing of the draft is kept."""
    steps.clear_flow(context)
    cast(dict[str, Any], context.user_data).pop(steps.PENDING_CHECKIN_KEY, None)
    await message_of(update).reply_text(
        context.t("cancel.done"), reply_markup=ReplyKeyboardRemove()
    )
    return ConversationHandler.END


async def start_again(update: Update, context: AsaContext) -> str | int:
    """/start in the middle of the flow: keep a QR token and carry on, else begin afresh."""
    token = _checkin_token(context)
    record = steps.flow(context)
    if token is not None and record.get("mode") == steps.MODE_REGISTER:
        cast(dict[str, Any], context.user_data)[steps.PENDING_CHECKIN_KEY] = token
        await message_of(update).reply_text(context.t("reg.checkin_after_registration"))
        return await steps.reask(update, context, str(record.get("state") or CHOOSING_LANGUAGE))
    return await start(update, context)


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"start", "profile"})


def register(application: AsaApplication) -> None:
    """The registration conversation, persisted so a restart resumes it."""
    steps.EXTRA_REASKERS[CHOOSING_LANGUAGE] = ask_language
    steps.EXTRA_REASKERS[CONSENTING] = ask_consent
    final = steps.final
    states: dict[object, list[Any]] = {
        CHOOSING_LANGUAGE: steps.guarded(
            CHOOSING_LANGUAGE,
            [CallbackQueryHandler(final(language_chosen), pattern=f"^{START_LANG_PREFIX}")],
            hint="reg.hint.language",
        ),
        CONSENTING: steps.guarded(
            CONSENTING,
            [CallbackQueryHandler(final(consent_answered), pattern=r"^reg:consent:(yes|no)$")],
            hint="reg.hint.consent",
        ),
        **steps.step_states(),
    }
    with warnings.catch_warnings():
        # Conversations are tracked per person, not per message, on purpose: the flow moves
        # through several messages, and each step checks that a button is the live one.
        warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
        conversation = ConversationHandler(
            entry_points=[
                CommandHandler("start", final(start)),
                CommandHandler("profile", final(steps.profile_command)),
            ],
            states=states,
            fallbacks=[
                CommandHandler("cancel", final(cancel)),
                CommandHandler("start", final(start_again)),
            ],
            name=CONVERSATION_NAME,
            persistent=True,
            allow_reentry=False,
        )
    application.add_handler(conversation, group=GROUP_FLOWS)
