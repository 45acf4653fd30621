"""Registration steps, /profile, /mydata and /forget.

The steps (who, agency, name, phone, district, role, summary) are shared by first registration
and by /profile; `bot/handlers/start.py` builds the one persistent conversation around them.
The draft lives in `context.user_data[FLOW_KEY]` and nothing reaches the person table before
the final confirmation.

Only the buttons of the latest question work: every question remembers its message id, and a
button pressed on any other message is answered as stale and changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Awaitable, Callable, Collection, Coroutine
from datetime import datetime, timedelta
from typing import Any, NoReturn, cast

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import AsaApplication, AsaContext
from bot.data.districts import District, Geography, search_districts
from bot.handlers import GROUP_MAIN, checkin
from bot.handlers.core import LANG_CALLBACK_PREFIX
from bot.handlers.updates import message_of, query_of, user_of
from bot.i18n import dates, terms, translator
from bot.services import people, privacy
from bot.services import registration as reg
from bot.services.errors import DomainError
from bot.services.startup import geography
from bot.services.validation import InvalidName, InvalidPhone
from storage.persistence import SqlPersistence

# Conversation states (strings, as CONTRIBUTING asks). LANGUAGE and CONSENT live in start.py.
LANGUAGE = "reg.language"
CONSENT = "reg.consent"
WHO = "reg.who"
AGENCY = "reg.agency"
NAME = "reg.name"
PHONE = "reg.phone"
DISTRICT = "reg.district"
ROLE = "reg.role"
SUMMARY = "reg.summary"

STATE_OF_STEP: dict[reg.Step, str] = {
    reg.Step.TYPE: WHO,
    reg.Step.AGENCY: AGENCY,
    reg.Step.NAME: NAME,
    reg.Step.PHONE: PHONE,
    reg.Step.DISTRICT: DISTRICT,
    reg.Step.ROLE: ROLE,
}
STEP_OF_STATE = {state: step for step, state in STATE_OF_STEP.items()}
# The callback_data prefix of each button step's choices.
BUTTON_PREFIX = {WHO: "reg:t:", AGENCY: "reg:a:", ROLE: "reg:r:"}

FLOW_KEY = "reg"
PENDING_CHECKIN_KEY = "pending_checkin"
FORGET_MESSAGE_KEY = "forget_msg"
MODE_REGISTER = "register"
MODE_PROFILE = "profile"

DISTRICT_PAGE_SIZE = 10
SKIP_DISTRICT = "ds"
TELEGRAM_TEXT_LIMIT = 4096
MYDATA_FILENAME = "asa-mydata.json"
PURGE_JOB = "asa:privacy:purge"
PURGE_INTERVAL = timedelta(days=1)
# Not at once: a start-up should not begin with a sweep of the whole table.
PURGE_FIRST_DELAY = timedelta(hours=1)
# Commands that work at any moment, even in the middle of a flow (core.py answers them).
ALWAYS_AVAILABLE = filters.Regex(r"^/(lang|help)(@\w+)?(\s|$)")

Callback = Callable[[Update, AsaContext], Awaitable[object]]


# ---------------------------------------------------------------------------------------------
# The flow's bookkeeping in user_data
# ---------------------------------------------------------------------------------------------


def flow(context: AsaContext) -> dict[str, Any]:
    """This person's flow record: mode, draft, the live question's message id, dirty flag."""
    data = cast(dict[str, Any], context.user_data)
    record = data.get(FLOW_KEY)
    if not isinstance(record, dict):
        record = new_flow(context, MODE_REGISTER, {})
    return record


def new_flow(context: AsaContext, mode: str, draft: reg.Draft) -> dict[str, Any]:
    """Start a fresh flow record (replacing any earlier one)."""
    record: dict[str, Any] = {"mode": mode, "draft": draft, "msg": None, "dirty": False}
    cast(dict[str, Any], context.user_data)[FLOW_KEY] = record
    return record


def draft_of(context: AsaContext) -> reg.Draft:
    """The draft being filled in."""
    draft = flow(context).setdefault("draft", {})
    return cast(reg.Draft, draft)


def clear_flow(context: AsaContext) -> None:
    """Forget the draft (after confirming, cancelling or declining)."""
    cast(dict[str, Any], context.user_data).pop(FLOW_KEY, None)


def remember_question(context: AsaContext, message: Message | None) -> None:
    """The message whose buttons are live now (None: no buttons are live)."""
    flow(context)["msg"] = message.message_id if message is not None else None


def is_live(update: Update, context: AsaContext) -> bool:
    """Whether a pressed button belongs to the latest question."""
    query = update.callback_query
    if query is None or query.message is None:
        return False
    return bool(query.message.message_id == flow(context).get("msg"))


def final(callback: Callback) -> Callable[[Update, AsaContext], Coroutine[Any, Any, NoReturn]]:
    """Make a conversation callback the last word on its update.

    The conversation runs in a group before the main one (see start.py), so that its /cancel
    wins over core's; raising ApplicationHandlerStop with the new state keeps the main group's
    fallbacks from answering the same update a second time.
    """

    @functools.wraps(callback)
    async def wrapper(update: Update, context: AsaContext) -> NoReturn:
        """Run the callback, then stop the update here with its new state."""
        state = await callback(update, context)
        record = cast(dict[str, Any], context.user_data).get(FLOW_KEY)
        if isinstance(state, str) and isinstance(record, dict):
            # Remembered so that fallbacks (/start with a QR token mid-flow) can ask again.
            record["state"] = state
        raise ApplicationHandlerStop(state)

    return wrapper


# ---------------------------------------------------------------------------------------------
# Labels and keyboards
# ---------------------------------------------------------------------------------------------


def type_label(context: AsaContext, value: str) -> str:
    """A participant type in the person's language."""
    return context.t(terms.participant_type(value))


def agency_label(context: AsaContext, value: str) -> str:
    """An agency's name in the person's language."""
    return context.t(terms.agency(value))


def role_label(context: AsaContext, value: str) -> str:
    """A volunteer role in the person's language."""
    return context.t(terms.volunteer_role(value))


def district_label(context: AsaContext, district: District, geo: Geography) -> str:
    """A district's name, with its zone when it has one."""
    name = district.name(context.lang)
    zone = geo.zone(district.zone) if district.zone is not None else None
    if zone is None:
        return name
    return context.t("reg.district.with_zone", district=name, zone=zone.name(context.lang))


def choice_keyboard(
    context: AsaContext,
    state: str,
    values: Collection[str],
    label: Callable[[AsaContext, str], str],
) -> InlineKeyboardMarkup:
    """One button per choice of a button step, one per row: long Thai labels read best so."""
    prefix = BUTTON_PREFIX[state]
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label(context, value), callback_data=f"{prefix}{value}")]
            for value in values
        ]
    )


def phone_keyboard(context: AsaContext) -> ReplyKeyboardMarkup:
    """One big button that shares the person's own number."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton(context.t("reg.phone.share_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def _district_extra_rows(context: AsaContext, *, browse: bool) -> list[list[InlineKeyboardButton]]:
    """Browse and (when the district is optional) skip buttons."""
    rows: list[list[InlineKeyboardButton]] = []
    if browse:
        rows.append(
            [InlineKeyboardButton(context.t("reg.district.browse"), callback_data="reg:dp:0")]
        )
    if not reg.needs_district(draft_of(context).get(reg.Step.TYPE)):
        rows.append(
            [
                InlineKeyboardButton(
                    context.t("reg.district.skip"), callback_data=f"reg:{SKIP_DISTRICT}"
                )
            ]
        )
    return rows


def district_results_keyboard(
    context: AsaContext, found: list[District], geo: Geography
) -> InlineKeyboardMarkup:
    """One button per match, then browse and skip."""
    rows = [
        [InlineKeyboardButton(district_label(context, d, geo), callback_data=f"reg:d:{d.code}")]
        for d in found
    ]
    return InlineKeyboardMarkup(rows + _district_extra_rows(context, browse=True))


def sorted_districts(context: AsaContext, geo: Geography) -> list[District]:
    """All districts in the order of the person's language."""
    return sorted(geo.districts, key=lambda d: (d.name(context.lang), d.code))


def page_count(geo: Geography) -> int:
    """How many browse pages there are."""
    return max(1, -(-len(geo.districts) // DISTRICT_PAGE_SIZE))


def district_page_keyboard(context: AsaContext, geo: Geography, page: int) -> InlineKeyboardMarkup:
    """One page of districts, two per row, with previous/next."""
    pages = page_count(geo)
    page = min(max(page, 0), pages - 1)
    chunk = sorted_districts(context, geo)[
        page * DISTRICT_PAGE_SIZE : (page + 1) * DISTRICT_PAGE_SIZE
    ]
    buttons = [
        InlineKeyboardButton(d.name(context.lang), callback_data=f"reg:d:{d.code}") for d in chunk
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(InlineKeyboardButton("‹", callback_data=f"reg:dp:{page - 1}"))
    nav.append(InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=f"reg:dp:{page}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("›", callback_data=f"reg:dp:{page + 1}"))
    rows.append(nav)
    return InlineKeyboardMarkup(rows + _district_extra_rows(context, browse=False))


# ---------------------------------------------------------------------------------------------
# Asking a question
# ---------------------------------------------------------------------------------------------


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

QUESTION_KEYS: dict[reg.Step, str] = {
    reg.Step.TYPE: "reg.ask.type",
    reg.Step.AGENCY: "reg.ask.agency",
    reg.Step.NAME: "reg.ask.name",
    reg.Step.PHONE: "reg.ask.phone",
    reg.Step.DISTRICT: "reg.ask.district",
    reg.Step.ROLE: "reg.ask.role",
}


def question_markup(context: AsaContext, step: reg.Step) -> Markup:
    """The buttons (or the keyboard change) that come with a step's question."""
    if step is reg.Step.TYPE:
        return choice_keyboard(context, WHO, reg.PARTICIPANT_TYPES, type_label)
    if step is reg.Step.AGENCY:
        return choice_keyboard(context, AGENCY, reg.AGENCIES, agency_label)
    if step is reg.Step.ROLE:
        return choice_keyboard(context, ROLE, reg.VOLUNTEER_ROLES, role_label)
    if step is reg.Step.PHONE:
        return phone_keyboard(context)
    if step is reg.Step.DISTRICT:
        return InlineKeyboardMarkup(_district_extra_rows(context, browse=True))
    return ReplyKeyboardRemove()


async def ask(update: Update, context: AsaContext, step: reg.Step | None) -> str:
    """Send the question for `step` (the summary when None) and return its state."""
    if step is None:
        return await show_summary(update, context)
    markup = question_markup(context, step)
    sent = await context.bot.send_message(
        user_of(update).id, context.t(QUESTION_KEYS[step]), reply_markup=markup
    )
    remember_question(context, sent if isinstance(markup, InlineKeyboardMarkup) else None)
    return STATE_OF_STEP[step]


async def ask_next(update: Update, context: AsaContext) -> str:
    """Ask the first open question, or show the summary when every answer is in."""
    return await ask(update, context, reg.next_step(draft_of(context)))


async def close_question(update: Update, answer: str) -> None:
    """Show the chosen answer under the question and take its buttons away."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    original = cast(Message, query.message).text or ""
    await query.edit_message_text(f"{original}\n\n✅ {answer}")


async def refuse_stale(update: Update, context: AsaContext) -> None:
    """A button from an older message: say so and change nothing."""
    query, _ = query_of(update)
    await query.answer(context.t("error.stale_button"))


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------


async def _choice(
    update: Update, context: AsaContext, prefix: str, allowed: Collection[str] | None = None
) -> str | None:
    """The value of a live button of this step, or None after answering a stale one.

    A value outside `allowed` comes from a tampered or ancient client: answered the same way.
    """
    query, data = query_of(update)
    value = data.removeprefix(prefix)
    if not is_live(update, context) or (allowed is not None and value not in allowed):
        await refuse_stale(update, context)
        return None
    await query.answer()
    return value


async def _after_answer(update: Update, context: AsaContext, label: str) -> str:
    """Close the question with the answer, mark the draft changed, go on."""
    flow(context)["dirty"] = True
    await close_question(update, label)
    return await ask_next(update, context)


async def _chosen(
    update: Update,
    context: AsaContext,
    state: str,
    allowed: Collection[str],
    apply: Callable[[reg.Draft, str], None],
    label: Callable[[AsaContext, str], str],
) -> str | None:
    """A button step: take a live, known choice into the draft and go on."""
    value = await _choice(update, context, BUTTON_PREFIX[state], allowed)
    if value is None:
        return None
    try:
        apply(draft_of(context), value)
    except DomainError:
        return await reask(update, context, state)
    return await _after_answer(update, context, label(context, value))


async def type_chosen(update: Update, context: AsaContext) -> str | None:
    """Participant type."""
    return await _chosen(
        update, context, WHO, reg.PARTICIPANT_TYPES, reg.set_participant_type, type_label
    )


async def agency_chosen(update: Update, context: AsaContext) -> str | None:
    """Agency (officials)."""
    return await _chosen(update, context, AGENCY, reg.AGENCIES, reg.set_agency, agency_label)


async def role_chosen(update: Update, context: AsaContext) -> str | None:
    """Volunteer role."""
    return await _chosen(update, context, ROLE, reg.VOLUNTEER_ROLES, reg.set_role, role_label)


async def name_typed(update: Update, context: AsaContext) -> str:
    """Full name: cleaned and checked, else asked again with an example."""
    text = message_of(update).text or ""
    try:
        reg.set_name(draft_of(context), text)
    except InvalidName as problem:
        await message_of(update).reply_text(context.t(f"reg.name.{problem.reason}"))
        return NAME
    flow(context)["dirty"] = True
    return await ask_next(update, context)


async def phone_typed(update: Update, context: AsaContext) -> str:
    """A typed phone number."""
    text = message_of(update).text or ""
    try:
        phone = reg.set_phone(draft_of(context), text)
    except InvalidPhone as problem:
        await message_of(update).reply_text(
            context.t(f"reg.phone.{problem.reason}"), reply_markup=phone_keyboard(context)
        )
        return PHONE
    return await _phone_saved(update, context, phone)


async def contact_shared(update: Update, context: AsaContext) -> str:
    """A shared contact: only the sender's own number is accepted."""
    message, user = message_of(update), user_of(update)
    contact = message.contact
    if contact is None or contact.user_id != user.id:
        await message.reply_text(
            context.t("reg.phone.not_yours"), reply_markup=phone_keyboard(context)
        )
        return PHONE
    try:
        phone = reg.set_shared_phone(draft_of(context), contact.phone_number)
    except InvalidPhone:
        await message.reply_text(
            context.t("reg.phone.invalid"), reply_markup=phone_keyboard(context)
        )
        return PHONE
    return await _phone_saved(update, context, phone)


async def _phone_saved(update: Update, context: AsaContext, phone: str) -> str:
    """Take the reply keyboard away, then go on."""
    flow(context)["dirty"] = True
    await message_of(update).reply_text(
        context.t("reg.phone.saved", phone=phone), reply_markup=ReplyKeyboardRemove()
    )
    return await ask_next(update, context)


async def district_typed(update: Update, context: AsaContext) -> str:
    """Part of a district name, in Thai or English: offer the matches as buttons."""
    message = message_of(update)
    geo = geography(context.runtime)
    found = search_districts(geo, message.text or "", limit=8)
    if not found:
        markup = InlineKeyboardMarkup(_district_extra_rows(context, browse=True))
        sent = await message.reply_text(context.t("reg.district.none"), reply_markup=markup)
    else:
        sent = await message.reply_text(
            context.t("reg.district.matches"),
            reply_markup=district_results_keyboard(context, found, geo),
        )
    remember_question(context, sent)
    return DISTRICT


async def district_page(update: Update, context: AsaContext) -> str | None:
    """Show a page of all districts, in place."""
    value = await _choice(update, context, "reg:dp:")
    if value is None:
        return None
    geo = geography(context.runtime)
    page = int(value) if value.isdigit() else 0
    query, _ = query_of(update)
    await query.edit_message_text(
        context.t("reg.district.browse_title"),
        reply_markup=district_page_keyboard(context, geo, page),
    )
    return DISTRICT


async def district_chosen(update: Update, context: AsaContext) -> str | None:
    """A district button (or skip, where the district is optional)."""
    geo = geography(context.runtime)
    allowed = {f"d:{district.code}" for district in geo.districts}
    if not reg.needs_district(draft_of(context).get(reg.Step.TYPE)):
        allowed.add(SKIP_DISTRICT)
    value = await _choice(update, context, "reg:", allowed)
    if value is None:
        return None
    code = None if value == SKIP_DISTRICT else value.removeprefix("d:")
    try:
        reg.set_district(draft_of(context), code, geo=geo)
    except DomainError:
        return await reask(update, context, DISTRICT)
    district = geo.district(code) if code is not None else None
    if district is None:
        label = context.t("reg.district.skipped")
    else:
        label = district_label(context, district, geo)
    return await _after_answer(update, context, label)


# ---------------------------------------------------------------------------------------------
# Summary, confirmation and edits
# ---------------------------------------------------------------------------------------------


def summary_text(context: AsaContext, draft: reg.Draft) -> str:
    """The answers so far, one per line."""
    geo = geography(context.runtime)
    none = context.t("reg.summary.none")
    kind = draft.get(reg.Step.TYPE)
    lines = [
        context.t("reg.summary.name", value=draft.get(reg.Step.NAME) or none),
        context.t("reg.summary.phone", value=draft.get(reg.Step.PHONE) or none),
        context.t("reg.summary.type", value=type_label(context, kind) if kind else none),
    ]
    if reg.needs_agency(kind):
        agency = draft.get(reg.Step.AGENCY)
        lines.append(
            context.t("reg.summary.agency", value=agency_label(context, agency) if agency else none)
        )
    code = draft.get(reg.Step.DISTRICT)
    district = geo.district(code) if code else None
    lines.append(
        context.t(
            "reg.summary.district",
            value=district_label(context, district, geo) if district else none,
        )
    )
    if reg.needs_role(kind):
        role = draft.get(reg.Step.ROLE)
        lines.append(
            context.t("reg.summary.role", value=role_label(context, role) if role else none)
        )
    return "\n".join(lines)


def summary_keyboard(context: AsaContext) -> InlineKeyboardMarkup:
    """Confirm (or save), then a button to change each field that applies."""
    record = flow(context)
    draft = draft_of(context)
    if record.get("mode") == MODE_PROFILE:
        top = (
            [
                InlineKeyboardButton(context.t("reg.profile.save"), callback_data="reg:ok"),
                InlineKeyboardButton(context.t("reg.profile.discard"), callback_data="reg:x"),
            ]
            if record.get("dirty")
            else [InlineKeyboardButton(context.t("reg.profile.done"), callback_data="reg:x")]
        )
    else:
        top = [InlineKeyboardButton(context.t("reg.summary.confirm"), callback_data="reg:ok")]
    edits = [
        InlineKeyboardButton(context.t(f"reg.edit.{step.value}"), callback_data=f"reg:e:{step}")
        for step in reg.STEPS
        if reg.applies(step, draft)
    ]
    rows = [top] + [edits[i : i + 2] for i in range(0, len(edits), 2)]
    return InlineKeyboardMarkup(rows)


async def show_summary(update: Update, context: AsaContext) -> str:
    """Send the summary with its buttons."""
    record = flow(context)
    title_key = "reg.profile.title" if record.get("mode") == MODE_PROFILE else "reg.summary.title"
    text = context.t(title_key) + "\n\n" + summary_text(context, draft_of(context))
    sent = await context.bot.send_message(
        user_of(update).id, text, reply_markup=summary_keyboard(context)
    )
    remember_question(context, sent)
    return SUMMARY


async def edit_chosen(update: Update, context: AsaContext) -> str | None:
    """Change one field: ask its question again."""
    applicable = [step.value for step in reg.STEPS if reg.applies(step, draft_of(context))]
    value = await _choice(update, context, "reg:e:", applicable)
    if value is None:
        return None
    query, _ = query_of(update)
    await query.edit_message_reply_markup(None)
    return await ask(update, context, reg.Step(value))


async def confirmed(update: Update, context: AsaContext) -> str | int | None:
    """Confirm: create the person (first registration) or save the profile."""
    if await _choice(update, context, "reg:ok") is None:
        return None
    if flow(context).get("mode") == MODE_PROFILE:
        return await _save_profile(update, context)
    return await _create_person(update, context)


async def _create_person(update: Update, context: AsaContext) -> str | int:
    """Write the person once, welcome them, and hand over a pending check-in."""
    user = user_of(update)
    async with context.sessions() as session:
        try:
            registered = await reg.register_person(
                session=session,
                telegram_id=user.id,
                telegram_username=user.username,
                language=context.lang,
                draft=draft_of(context),
                geo=geography(context.runtime),
                now=context.clock.now(),
            )
        except DomainError:
            await context.bot.send_message(user.id, context.t("reg.error.incomplete"))
            return await ask_next(update, context)
    # The actor was resolved before the person existed; later steps of this update need them.
    context.actor = dataclasses.replace(
        context.actor, person_id=registered.person.id, name=registered.person.full_name
    )
    query, _ = query_of(update)
    await query.edit_message_reply_markup(None)
    clear_flow(context)
    await context.bot.send_message(user.id, context.t("reg.welcome"))
    await hand_over_pending_checkin(update, context)
    return ConversationHandler.END


async def hand_over_pending_checkin(update: Update, context: AsaContext) -> None:
    """Check the person in to the event whose QR code brought them here, if any."""
    data = cast(dict[str, Any], context.user_data)
    token = data.pop(PENDING_CHECKIN_KEY, None)
    if isinstance(token, str) and token:
        await checkin.check_in_with_token(update, context, token)


async def _save_profile(update: Update, context: AsaContext) -> str | int:
    """Save /profile changes."""
    user = user_of(update)
    async with context.sessions() as session:
        try:
            await reg.update_profile(
                session=session,
                telegram_id=user.id,
                draft=draft_of(context),
                geo=geography(context.runtime),
                now=context.clock.now(),
            )
        except DomainError as error:
            await context.bot.send_message(user.id, context.t(error.key))
            clear_flow(context)
            return ConversationHandler.END
    query, _ = query_of(update)
    await query.edit_message_reply_markup(None)
    clear_flow(context)
    await context.bot.send_message(user.id, context.t("reg.profile.saved"))
    return ConversationHandler.END


async def profile_closed(update: Update, context: AsaContext) -> str | int | None:
    """Leave /profile without saving."""
    in_profile = flow(context).get("mode") == MODE_PROFILE
    # Only /profile shows this button; during a first registration it is a forged one.
    if await _choice(update, context, "reg:x", [""] if in_profile else []) is None:
        return None
    query, _ = query_of(update)
    await query.edit_message_reply_markup(None)
    key = "reg.profile.discarded" if flow(context).get("dirty") else "reg.profile.closed"
    clear_flow(context)
    await context.bot.send_message(user_of(update).id, context.t(key))
    return ConversationHandler.END


async def profile_command(update: Update, context: AsaContext) -> str | int:
    """Show a registered person's record with buttons to change it."""
    user = user_of(update)
    async with context.sessions() as session:
        person = await people.by_telegram_id(session=session, telegram_id=user.id)
    if person is None:
        await message_of(update).reply_text(context.t("error.not_registered"))
        return ConversationHandler.END
    new_flow(context, MODE_PROFILE, reg.draft_of(person))
    return await show_summary(update, context)


# ---------------------------------------------------------------------------------------------
# Bad input inside the flow
# ---------------------------------------------------------------------------------------------

_HINT_OF_STATE = {
    WHO: "reg.hint.buttons",
    AGENCY: "reg.hint.buttons",
    ROLE: "reg.hint.buttons",
    SUMMARY: "reg.hint.buttons",
    NAME: "reg.hint.name",
    PHONE: "reg.hint.phone",
    DISTRICT: "reg.hint.district",
}

Reask = Callable[[Update, AsaContext], Awaitable[str]]
# Re-askers of states defined elsewhere (language and consent, in start.py).
EXTRA_REASKERS: dict[str, Reask] = {}


async def reask(update: Update, context: AsaContext, state: str) -> str:
    """Ask the question of `state` again (a fresh message whose buttons are live)."""
    if state in EXTRA_REASKERS:
        return await EXTRA_REASKERS[state](update, context)
    if state == SUMMARY:
        return await show_summary(update, context)
    return await ask(update, context, STEP_OF_STATE[state])


def unexpected_input(state: str, hint: str) -> Callback:
    """Anything a step did not expect: a short hint, then the same question again."""

    async def callback(update: Update, context: AsaContext) -> str:
        """Hint, then ask again."""
        await message_of(update).reply_text(context.t(hint))
        return await reask(update, context, state)

    return callback


def other_command(state: str) -> Callback:
    """A command that belongs elsewhere: say how to finish or cancel, and stay in the step."""

    async def callback(update: Update, context: AsaContext) -> str:
        """Say how to finish or leave, then ask again."""
        await message_of(update).reply_text(context.t("reg.hint.finish_or_cancel"))
        return await reask(update, context, state)

    return callback


async def stale_in_flow(update: Update, context: AsaContext) -> None:
    """A button this step does not know (an old message, or a tampered one)."""
    await refuse_stale(update, context)


def guarded(
    state: str, handlers: list[BaseHandler[Update, AsaContext, Any]], *, hint: str | None = None
) -> list[BaseHandler[Update, AsaContext, Any]]:
    """A step's handlers followed by catch-alls for everything else."""
    new_message = filters.UpdateType.MESSAGE
    flow_commands = filters.Regex(r"^/(start|cancel)(@\w+)?(\s|$)")
    return [
        *handlers,
        MessageHandler(
            new_message & filters.COMMAND & ~ALWAYS_AVAILABLE & ~flow_commands,
            final(other_command(state)),
        ),
        MessageHandler(
            new_message & ~filters.COMMAND,
            final(unexpected_input(state, hint or _HINT_OF_STATE[state])),
        ),
        CallbackQueryHandler(final(stale_in_flow), pattern=f"^(?!{LANG_CALLBACK_PREFIX})"),
    ]


def step_states() -> dict[object, list[BaseHandler[Update, AsaContext, Any]]]:
    """The states of the steps after consent, for the conversation built in start.py."""
    text = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    return {
        WHO: guarded(WHO, [CallbackQueryHandler(final(type_chosen), pattern=r"^reg:t:")]),
        AGENCY: guarded(AGENCY, [CallbackQueryHandler(final(agency_chosen), pattern=r"^reg:a:")]),
        NAME: guarded(NAME, [MessageHandler(text, final(name_typed))]),
        PHONE: guarded(
            PHONE,
            [
                MessageHandler(filters.UpdateType.MESSAGE & filters.CONTACT, final(contact_shared)),
                MessageHandler(text, final(phone_typed)),
            ],
        ),
        DISTRICT: guarded(
            DISTRICT,
            [
                MessageHandler(text, final(district_typed)),
                CallbackQueryHandler(final(district_page), pattern=r"^reg:dp:\d{1,3}$"),
                CallbackQueryHandler(final(district_chosen), pattern=r"^reg:(d:\d{4}|ds)$"),
            ],
        ),
        ROLE: guarded(ROLE, [CallbackQueryHandler(final(role_chosen), pattern=r"^reg:r:")]),
        SUMMARY: guarded(
            SUMMARY,
            [
                CallbackQueryHandler(final(confirmed), pattern=r"^reg:ok$"),
                CallbackQueryHandler(final(profile_closed), pattern=r"^reg:x$"),
                CallbackQueryHandler(final(edit_chosen), pattern=r"^reg:e:[a-z_]{1,20}$"),
            ],
        ),
    }


# ---------------------------------------------------------------------------------------------
# /mydata
# ---------------------------------------------------------------------------------------------


def readable_export(context: AsaContext, data: dict[str, Any]) -> str:
    """The export as a message a person can read."""
    when = _date_reader(context)
    lines = [context.t("mydata.title"), "", *_profile_lines(context, data, when)]
    lines += ["", *_history_lines(context, data, when)]
    if data["roles"]:
        lines += ["", context.t("mydata.roles", value=", ".join(data["roles"]))]
    lines += ["", context.t("mydata.footer")]
    return "\n".join(lines)


def _date_reader(context: AsaContext) -> Callable[[str | None], str]:
    """Turns an exported ISO timestamp into a date as the person reads dates."""
    none = context.t("reg.summary.none")

    def when(text: str | None) -> str:
        """The formatted date, or a dash for none."""
        if not text:
            return none
        moment = datetime.fromisoformat(text)
        return dates.format_datetime(
            moment, lang=context.lang, tz=context.settings.tz, style="short"
        )

    return when


def _profile_lines(
    context: AsaContext, data: dict[str, Any], when: Callable[[str | None], str]
) -> list[str]:
    """The profile, the account and the consent."""
    profile, consent = data["profile"], data["consent"]
    answers = {step.value: profile[step.value] for step in reg.STEPS}
    none = context.t("reg.summary.none")
    account = context.t(
        "mydata.telegram", id=profile["telegram_id"], username=profile["telegram_username"] or none
    )
    return [
        summary_text(context, answers),
        account,
        context.t("mydata.language", value=translator(profile["language"])("lang.name")),
        context.t("mydata.registered_at", value=when(profile["registered_at"])),
        context.t("mydata.last_active_at", value=when(profile["last_active_at"])),
        context.t(
            "mydata.consent",
            at=when(consent["given_at"]),
            version=consent["notice_version"] or none,
        ),
    ]


def _history_lines(
    context: AsaContext, data: dict[str, Any], when: Callable[[str | None], str]
) -> list[str]:
    """Sign-ups and check-ins, one line each."""
    lines = [context.t("mydata.registrations", count=len(data["registrations"]))]
    lines += [
        f"• {item['event_title']} ({when(item['event_starts_at'])}): "
        + context.t(f"mydata.rsvp.{item['status']}")
        for item in data["registrations"]
    ]
    lines += ["", context.t("mydata.check_ins", count=len(data["check_ins"]))]
    lines += [
        f"• {item['event_title']}: {when(item['checked_in_at'])}" for item in data["check_ins"]
    ]
    return lines


def split_message(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut a long text into messages Telegram accepts, at line breaks where possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


async def mydata_command(update: Update, context: AsaContext) -> None:
    """Send everything stored about the person: a readable message and a JSON file."""
    message, user = message_of(update), user_of(update)
    async with context.sessions() as session:
        person = await people.by_telegram_id(session=session, telegram_id=user.id)
        if person is None or person.id is None:
            await message.reply_text(context.t("mydata.nothing"))
            return
        data = await privacy.export_person(session=session, person_id=person.id)
    for part in split_message(readable_export(context, data)):
        await message.reply_text(part)
    document = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await message.reply_document(
        document, filename=MYDATA_FILENAME, caption=context.t("mydata.file_caption")
    )


# ---------------------------------------------------------------------------------------------
# /forget
# ---------------------------------------------------------------------------------------------


async def forget_command(update: Update, context: AsaContext) -> None:
    """Ask for confirmation before erasing."""
    message, user = message_of(update), user_of(update)
    async with context.sessions() as session:
        person = await people.by_telegram_id(session=session, telegram_id=user.id)
    if person is None:
        # Worded before the user data (and with it the language) is dropped.
        nothing = context.t("forget.nothing")
        await drop_telegram_state(context.application, user.id)
        await message.reply_text(nothing)
        return
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(context.t("forget.yes"), callback_data="forget:yes")],
            [InlineKeyboardButton(context.t("forget.no"), callback_data="forget:no")],
        ]
    )
    sent = await message.reply_text(context.t("forget.confirm"), reply_markup=markup)
    cast(dict[str, Any], context.user_data)[FORGET_MESSAGE_KEY] = sent.message_id


async def forget_answered(update: Update, context: AsaContext) -> None:
    """Erase on yes (from the latest confirmation only); keep everything on no."""
    query, data = query_of(update)
    user = user_of(update)
    user_data = cast(dict[str, Any], context.user_data)
    live = query.message is not None and query.message.message_id == user_data.get(
        FORGET_MESSAGE_KEY
    )
    if not live:
        await query.answer(context.t("error.stale_button"))
        return
    user_data.pop(FORGET_MESSAGE_KEY, None)
    await query.answer()
    if data != "forget:yes":
        await query.edit_message_text(context.t("forget.kept"))
        return
    # Worded before the erasure: afterwards the person's language is forgotten too.
    done = context.t("forget.done")
    async with context.sessions() as session:
        person = await people.by_telegram_id(session=session, telegram_id=user.id)
        if person is not None and person.id is not None:
            await privacy.erase_person(
                session=session,
                person_id=person.id,
                now=context.clock.now(),
                reason="forget",
                actor_id=person.id,
            )
    await drop_telegram_state(context.application, user.id)
    await query.edit_message_text(done)


async def drop_telegram_state(application: Any, telegram_id: int) -> None:
    """Forget a person's user and chat data and conversation states (memory and database)."""
    app = cast(AsaApplication, application)
    app.drop_user_data(telegram_id)
    # A private chat's id is the person's id; PTB keeps a (usually empty) record of it too.
    app.drop_chat_data(telegram_id)
    app.last_seen.forget(telegram_id)
    for handlers in app.handlers.values():
        for handler in handlers:
            if isinstance(handler, ConversationHandler):
                # PTB has no public way to end another person's conversation; its states live
                # in this dict, keyed by tuples of chat and user ids.
                states = handler._conversations
                for key in [k for k in states if telegram_id in k]:
                    del states[key]
    if isinstance(app.persistence, SqlPersistence):
        await app.persistence.drop_conversations_of(telegram_id)


async def purge_job(context: AsaContext) -> None:
    """Daily: erase everyone inactive for longer than the retention period, as /forget does."""
    async with context.sessions() as session:
        erased = await privacy.purge_inactive(
            session=session,
            now=context.clock.now(),
            retention_days=context.settings.bot.data_retention_days,
        )
    for person in erased:
        if person.telegram_id is not None:
            await drop_telegram_state(context.application, person.telegram_id)
    if erased:
        # Outside an update nothing else writes the dropped user data away soon.
        await context.application.update_persistence()


async def _start_retention(application: Any) -> None:
    """post_init: the daily retention sweep (a stable id, so a restart never doubles it)."""
    queue = cast(AsaApplication, application).job_queue
    if queue is None:
        return
    queue.run_repeating(
        purge_job,
        interval=PURGE_INTERVAL,
        first=PURGE_FIRST_DELAY,
        name=PURGE_JOB,
        job_kwargs={"id": PURGE_JOB, "replace_existing": True, "coalesce": True},
    )


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"mydata", "forget"})


def register(application: AsaApplication) -> None:
    """/mydata, /forget and the retention sweep (the steps and /profile are in start.py's
    conversation)."""
    application.add_handlers(
        [
            CommandHandler("mydata", mydata_command),
            CommandHandler("forget", forget_command),
            CallbackQueryHandler(forget_answered, pattern=r"^forget:(yes|no)$"),
        ],
        group=GROUP_MAIN,
    )
    application.runtime.on_start.append(_start_retention)
