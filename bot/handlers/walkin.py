"""/walkin: staff register and check in a person without Telegram (legacy conversation).

Still a ConversationHandler keeping its draft in user_data; it moves to the flow engine
(bot/flows.py) with the registration steps it shares.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import AsaApplication, AsaContext
from bot.data.districts import search_districts
from bot.handlers import GROUP_MAIN
from bot.handlers.checkin import error_text
from bot.handlers.common import current_access, current_person
from bot.handlers.updates import message_of, query_of
from bot.i18n.dates import format_time
from bot.services import checkins
from bot.services.access import Capability
from bot.services.checkins import WalkinFields
from bot.services.errors import DomainError
from bot.services.startup import geography
from bot.services.validation import InvalidName, InvalidPhone, normalise_name, normalise_phone
from storage.models import Agency, ParticipantType, VolunteerRole

W_EVENT = "wi.event"
W_NAME = "wi.name"
W_TYPE = "wi.type"
W_AGENCY = "wi.agency"
W_DISTRICT = "wi.district"
W_ROLE = "wi.role"
W_PHONE = "wi.phone"
W_CONFIRM = "wi.confirm"

WALKIN_KEY = "walkin_draft"


async def _reply_error(update: Update, context: AsaContext, error: DomainError) -> None:
    """Say why, as a message or a button's alert."""
    text = error_text(context, error)
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
        return
    await message_of(update).reply_text(text)


def _event_buttons(found: list[Any], prefix: str) -> InlineKeyboardMarkup:
    """One button per open event."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(event.title[:60], callback_data=f"{prefix}{event.id}")]
            for event in found
        ]
    )


async def cancel(update: Update, context: AsaContext) -> int:
    """/cancel inside the walk-in flow."""
    if context.user_data is not None:
        context.user_data.pop(WALKIN_KEY, None)
    await message_of(update).reply_text(context.t("checkin.cancelled"))
    return ConversationHandler.END


# ---------------------------------------------------------------------------------------------
# Staff: /walkin, for people without Telegram


def _walkin(context: AsaContext) -> dict[str, Any]:
    """The walk-in being entered (persisted with the staff member's user data)."""
    if context.user_data is None:
        return {}
    draft: dict[str, Any] = context.user_data.setdefault(WALKIN_KEY, {})
    return draft


def _choices(prefix: str, values: list[str], label: Any) -> InlineKeyboardMarkup:
    """Two buttons a row."""
    buttons = [
        InlineKeyboardButton(label(value), callback_data=f"{prefix}{value}") for value in values
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


async def _walkin_ask(update: Update, context: AsaContext, step: str, *, problem: str = "") -> str:
    """Ask for one walk-in step and remember it."""
    draft = _walkin(context)
    draft["step"] = step
    t = context.t
    markup: InlineKeyboardMarkup | None = None
    if step == W_NAME:
        text = t("walkin.ask.name")
    elif step == W_TYPE:
        text = t("walkin.ask.type")
        markup = _choices(
            "wi:t:", [p.value for p in ParticipantType], lambda v: t(f"walkin.type.{v}")
        )
    elif step == W_AGENCY:
        text = t("walkin.ask.agency")
        markup = _choices("wi:a:", [a.value for a in Agency], lambda v: t(f"walkin.agency.{v}"))
    elif step == W_DISTRICT:
        text = t("walkin.ask.district")
    elif step == W_ROLE:
        text = t("walkin.ask.role")
        markup = _choices(
            "wi:r:", [r.value for r in VolunteerRole], lambda v: t(f"walkin.role.{v}")
        )
    elif step == W_PHONE:
        text = t("walkin.ask.phone")
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(t("walkin.button.no_phone"), callback_data="wi:skip")]]
        )
    else:
        text = _walkin_summary(context, draft)
        markup = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(t("walkin.button.save"), callback_data="wi:ok")],
                [InlineKeyboardButton(t("walkin.button.discard"), callback_data="wi:cancel")],
            ]
        )
    if problem:
        text = f"{problem}\n\n{text}"
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, text, reply_markup=markup)
    return step


def _walkin_summary(context: AsaContext, draft: dict[str, Any]) -> str:
    """What will be saved."""
    t = context.t
    lines = [
        t("walkin.summary", title=draft.get("event_title", ""), name=draft.get("full_name", "")),
        t("walkin.summary.type", type=t(f"walkin.type.{draft.get('participant_type')}")),
    ]
    if draft.get("agency"):
        lines.append(t("walkin.summary.agency", agency=t(f"walkin.agency.{draft['agency']}")))
    if draft.get("district_name"):
        lines.append(t("walkin.summary.district", district=draft["district_name"]))
    if draft.get("volunteer_role"):
        lines.append(t("walkin.summary.role", role=t(f"walkin.role.{draft['volunteer_role']}")))
    lines.append(
        t("walkin.summary.phone", phone=draft["phone"])
        if draft.get("phone")
        else t("walkin.summary.no_phone")
    )
    return "\n".join(lines)


async def walkin_command(update: Update, context: AsaContext) -> str | int:
    """/walkin: staff register someone without Telegram and check them in."""
    message = message_of(update)
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        if not access.can(Capability.REGISTER_WALKINS):
            await message.reply_text(context.t("error.not_allowed"))
            return ConversationHandler.END
        found = await checkins.open_events(session=session, now=context.clock.now())
    if not found:
        await message.reply_text(context.t("checkin.no_open_event"))
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[WALKIN_KEY] = {}
    if len(found) > 1:
        _walkin(context)["step"] = W_EVENT
        await message.reply_text(
            context.t("checkin.for.which_event"), reply_markup=_event_buttons(found, "wi:e:")
        )
        return W_EVENT
    _walkin(context).update(event_id=found[0].id, event_title=found[0].title)
    return await _walkin_ask(update, context, W_NAME)


async def walkin_event(update: Update, context: AsaContext) -> str:
    """The event, when several are open."""
    query, data = query_of(update)
    tail = data.removeprefix("wi:e:")
    async with context.sessions() as session:
        found = await checkins.open_events(session=session, now=context.clock.now())
    event = next((e for e in found if str(e.id) == tail), None)
    if event is None:
        await query.answer(context.t("error.stale_button"))
        return W_EVENT
    await query.answer()
    await query.edit_message_reply_markup(None)
    _walkin(context).update(event_id=event.id, event_title=event.title)
    return await _walkin_ask(update, context, W_NAME)


async def walkin_name(update: Update, context: AsaContext) -> str:
    """The name."""
    try:
        _walkin(context)["full_name"] = normalise_name(message_of(update).text or "")
    except InvalidName as problem:
        return await _walkin_ask(
            update, context, W_NAME, problem=context.t(f"walkin.bad_name.{problem.reason}")
        )
    return await _walkin_ask(update, context, W_TYPE)


async def walkin_type(update: Update, context: AsaContext) -> str:
    """Participant type: officials give their agency, volunteers their district and role."""
    query, data = query_of(update)
    value = data.removeprefix("wi:t:")
    if value not in ParticipantType._value2member_map_:
        await query.answer(context.t("error.stale_button"))
        return W_TYPE
    await query.answer()
    await query.edit_message_reply_markup(None)
    draft = _walkin(context)
    draft.update(participant_type=value, agency=None, district_code=None, volunteer_role=None)
    if value == ParticipantType.OFFICIAL:
        return await _walkin_ask(update, context, W_AGENCY)
    if value == ParticipantType.VOLUNTEER:
        return await _walkin_ask(update, context, W_DISTRICT)
    return await _walkin_ask(update, context, W_PHONE)


async def walkin_agency(update: Update, context: AsaContext) -> str:
    """An official's agency."""
    query, data = query_of(update)
    value = data.removeprefix("wi:a:")
    if value not in Agency._value2member_map_:
        await query.answer(context.t("error.stale_button"))
        return W_AGENCY
    await query.answer()
    await query.edit_message_reply_markup(None)
    _walkin(context)["agency"] = value
    return await _walkin_ask(update, context, W_PHONE)


async def walkin_district_typed(update: Update, context: AsaContext) -> str:
    """A district typed by name: one match is taken, several are offered as buttons."""
    geo = geography(context.runtime)
    found = search_districts(geo, (message_of(update).text or "")[:60])
    if not found:
        return await _walkin_ask(
            update, context, W_DISTRICT, problem=context.t("walkin.no_district")
        )
    if len(found) == 1:
        return await _walkin_set_district(update, context, found[0].code)
    rows = [
        [InlineKeyboardButton(d.name(context.lang), callback_data=f"wi:d:{d.code}")] for d in found
    ]
    await message_of(update).reply_text(
        context.t("walkin.which_district"), reply_markup=InlineKeyboardMarkup(rows)
    )
    return W_DISTRICT


async def walkin_district_chosen(update: Update, context: AsaContext) -> str:
    """A district picked from the offered buttons."""
    query, data = query_of(update)
    code = data.removeprefix("wi:d:")
    if geography(context.runtime).district(code) is None:
        await query.answer(context.t("error.stale_button"))
        return W_DISTRICT
    await query.answer()
    await query.edit_message_reply_markup(None)
    return await _walkin_set_district(update, context, code)


async def _walkin_set_district(update: Update, context: AsaContext, code: str) -> str:
    """Remember the district, then ask the volunteer's role."""
    district = geography(context.runtime).district(code)
    draft = _walkin(context)
    draft["district_code"] = code
    draft["district_name"] = district.name(context.lang) if district else code
    return await _walkin_ask(update, context, W_ROLE)


async def walkin_role(update: Update, context: AsaContext) -> str:
    """A volunteer's role."""
    query, data = query_of(update)
    value = data.removeprefix("wi:r:")
    if value not in VolunteerRole._value2member_map_:
        await query.answer(context.t("error.stale_button"))
        return W_ROLE
    await query.answer()
    await query.edit_message_reply_markup(None)
    _walkin(context)["volunteer_role"] = value
    return await _walkin_ask(update, context, W_PHONE)


async def walkin_phone(update: Update, context: AsaContext) -> str:
    """An optional phone number."""
    try:
        _walkin(context)["phone"] = normalise_phone(message_of(update).text or "")
    except InvalidPhone as problem:
        return await _walkin_ask(
            update, context, W_PHONE, problem=context.t(f"walkin.bad_phone.{problem.reason}")
        )
    return await _walkin_ask(update, context, W_CONFIRM)


async def walkin_no_phone(update: Update, context: AsaContext) -> str:
    """No phone number."""
    query, _ = query_of(update)
    await query.answer()
    await query.edit_message_reply_markup(None)
    _walkin(context)["phone"] = None
    return await _walkin_ask(update, context, W_CONFIRM)


async def walkin_save(update: Update, context: AsaContext) -> str | int:
    """Create the person and check them in, in one go."""
    query, _ = query_of(update)
    draft = _walkin(context)
    fields = WalkinFields(
        full_name=str(draft.get("full_name", "")),
        participant_type=str(draft.get("participant_type", "")),
        agency=draft.get("agency"),
        district_code=draft.get("district_code"),
        volunteer_role=draft.get("volunteer_role"),
        phone=draft.get("phone"),
    )
    async with context.sessions() as session:
        staff = await current_person(update, session)
        access = await current_access(update, context, session, staff)
        try:
            result = await checkins.register_walkin(
                session=session,
                access=access,
                event_id=int(draft.get("event_id") or 0),
                fields=fields,
                now=context.clock.now(),
            )
            await session.commit()
        except DomainError as error:
            await _reply_error(update, context, error)
            return (
                ConversationHandler.END
                if not isinstance(error, checkins.InvalidWalkin)
                else W_CONFIRM
            )
    await query.answer()
    await query.edit_message_reply_markup(None)
    if context.user_data is not None:
        context.user_data.pop(WALKIN_KEY, None)
    at = format_time(result.checked_in_at, lang=context.lang, tz=context.settings.tz)
    await context.bot.send_message(
        query.from_user.id,
        context.t("walkin.done", name=fields.full_name, title=result.event_title, at=at),
    )
    return ConversationHandler.END


async def walkin_discard(update: Update, context: AsaContext) -> int:
    """Throw the walk-in away."""
    query, _ = query_of(update)
    await query.answer()
    await query.edit_message_reply_markup(None)
    if context.user_data is not None:
        context.user_data.pop(WALKIN_KEY, None)
    await context.bot.send_message(query.from_user.id, context.t("checkin.cancelled"))
    return ConversationHandler.END


async def walkin_reask(update: Update, context: AsaContext) -> str:
    """Anything the current step cannot use: ask again, staying in the step."""
    step = str(_walkin(context).get("step") or W_NAME)
    if update.callback_query is not None:
        await update.callback_query.answer(context.t("error.stale_button"))
        return step
    if step == W_EVENT:
        await message_of(update).reply_text(context.t("walkin.use_buttons"))
        return step
    return await _walkin_ask(update, context, step, problem=context.t("walkin.not_understood"))


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"walkin"})


def register(application: AsaApplication) -> None:
    """The walk-in conversation."""
    text = filters.TEXT & ~filters.COMMAND
    conversation = ConversationHandler(
        entry_points=[CommandHandler("walkin", walkin_command)],
        states={
            W_EVENT: [CallbackQueryHandler(walkin_event, pattern=r"^wi:e:\d+$")],
            W_NAME: [MessageHandler(text, walkin_name)],
            W_TYPE: [CallbackQueryHandler(walkin_type, pattern=r"^wi:t:")],
            W_AGENCY: [CallbackQueryHandler(walkin_agency, pattern=r"^wi:a:")],
            W_DISTRICT: [
                MessageHandler(text, walkin_district_typed),
                CallbackQueryHandler(walkin_district_chosen, pattern=r"^wi:d:"),
            ],
            W_ROLE: [CallbackQueryHandler(walkin_role, pattern=r"^wi:r:")],
            W_PHONE: [
                MessageHandler(text, walkin_phone),
                CallbackQueryHandler(walkin_no_phone, pattern=r"^wi:skip$"),
            ],
            W_CONFIRM: [
                CallbackQueryHandler(walkin_save, pattern=r"^wi:ok$"),
                CallbackQueryHandler(walkin_discard, pattern=r"^wi:cancel$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            MessageHandler(filters.UpdateType.MESSAGE, walkin_reask),
            CallbackQueryHandler(walkin_reask, pattern=r"^wi:"),
        ],
        name="walkin",
        persistent=True,
        allow_reentry=True,
    )
    application.add_handler(conversation, group=GROUP_MAIN)
