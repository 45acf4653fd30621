"""Check-in: /checkin CODE, deep links, shared locations, /checkin_for and /checkout.

Handlers parse the update, call one use case (bot/usecases/checkin.py) and render its result.
Two flows: the code prompt (`/checkin` alone waits for the code) and the staff search
(`/checkin_for` alone waits for a name or phone; several open events wait for a choice).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackQueryHandler

from bot.context import AsaApplication, AsaContext
from bot.flows import Flow, Input, Run
from bot.handlers import GROUP_MAIN, registration
from bot.handlers.checkin_texts import error_text, success_text
from bot.handlers.dispatch import Callback, set_location_handler
from bot.handlers.updates import args_of, message_of, query_of, text_of, trailing_ids
from bot.i18n.dates import format_time
from bot.services.access import Capability
from bot.services.checkins import PersonMatch, WrongCode
from bot.services.errors import DomainError
from bot.usecases import checkin as checking
from bot.usecases.checkin import CODE_PROMPT, EventChoice

# Longer than any name or phone number; longer texts are refused before any search.
SEARCH_MAX_CHARS = 100
CODE_MAX_CHARS = 40
PERSON_BUTTON = "cf:"  # cf:<event id>:<person id>, a stateless button re-checked when pressed


# ---------------------------------------------------------------------------------------------
# Replies


async def _say(update: Update, context: AsaContext, text: str) -> None:
    """Answer as a button's alert (for a press) or as a new message."""
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
        return
    await context.bot.send_message(context.actor.telegram_id, text)


# ---------------------------------------------------------------------------------------------
# QR / deep link


async def check_in_with_token(update: Update, context: AsaContext, token: str) -> None:
    """Check the sender in to the event behind a deep-link token, and reply.

    Also called at the end of registration (from a button press), so it always answers with
    a new message in the chat rather than a reply or a button alert.
    """
    actor = context.actor
    if not actor.registered:
        await context.bot.send_message(actor.telegram_id, context.t("checkin.register_first"))
        return
    try:
        result = await checking.with_token(
            context.db, actor=actor, token=token, now=context.clock.now()
        )
    except DomainError as error:
        await context.bot.send_message(actor.telegram_id, error_text(context, error))
        return
    await context.bot.send_message(actor.telegram_id, success_text(context, result))


# ---------------------------------------------------------------------------------------------
# Code: /checkin ABC234, or /checkin then the code


@dataclass
class CodePrompt:
    """Nothing to remember: the prompt only waits."""


CODE_FLOW = Flow(
    CODE_PROMPT,
    CodePrompt,
    title_key="flow.checkin_code",
    prompt=True,
    hint_key=None,  # the question asked again says it all
    # A QR scan (/start ci-...) while the prompt waits checks in and ends it quietly.
    commands=frozenset({"checkin"}),
)


async def _try_code(update: Update, context: AsaContext, text: str) -> bool:
    """Check in with a typed code and answer; True when the person should try again."""
    try:
        result = await checking.with_code(
            context.db,
            actor=context.actor,
            code_text=text[:CODE_MAX_CHARS],
            now=context.clock.now(),
            limiter=context.runtime.wrong_codes,
        )
    except WrongCode as error:
        await message_of(update).reply_text(error_text(context, error))
        return True
    except DomainError as error:
        await message_of(update).reply_text(error_text(context, error))
        return False
    await message_of(update).reply_text(success_text(context, result))
    return False


async def checkin_command(update: Update, context: AsaContext) -> None:
    """/checkin CODE checks in at once; /checkin alone asks for the code."""
    code = "".join(args_of(context))
    if not context.actor.registered:
        # Registration first; the code waits in its draft and checks the person in after.
        await registration.newcomer_checkin(update, context, code)
        return
    if code:
        await _try_code(update, context, code)
        return
    run = CODE_FLOW.start(CodePrompt(), "code")
    await run.ask(context, context.t("checkin.ask_code"))


@CODE_FLOW.on_text("code")
async def code_typed(update: Update, context: AsaContext, run: Run[CodePrompt]) -> None:
    """The code, typed after /checkin: done, or asked again after a wrong one."""
    again = await _try_code(update, context, text_of(update))
    if not again:
        await run.end(context)


@CODE_FLOW.on_input("code", Input.LOCATION)
async def code_by_location(update: Update, context: AsaContext, run: Run[CodePrompt]) -> None:
    """A location shared instead of the code: check in by location."""
    await run.end(context)
    await location_shared(update, context)


@CODE_FLOW.reasker
async def ask_code_again(update: Update, context: AsaContext, run: Run[CodePrompt]) -> None:
    """The prompt's question, again, with the way out."""
    await run.ask(context, context.t("checkin.ask_code_again"))


# ---------------------------------------------------------------------------------------------
# Location


async def location_shared(update: Update, context: AsaContext) -> None:
    """A shared (or live) location near an open venue checks the person in."""
    message = message_of(update)
    location = message.location
    if location is None:
        return
    # Live locations arrive as edits every few seconds: answer only when they check someone in.
    quiet = update.edited_message is not None
    if not context.actor.registered:
        if not quiet:
            await message.reply_text(context.t("checkin.register_first"))
        return
    try:
        result = await checking.at_location(
            context.db,
            actor=context.actor,
            latitude=location.latitude,
            longitude=location.longitude,
            forwarded=message.forward_origin is not None,
            now=context.clock.now(),
        )
    except DomainError as error:
        if not quiet:
            await message.reply_text(error_text(context, error))
        return
    await context.bot.send_message(message.chat_id, success_text(context, result))


# ---------------------------------------------------------------------------------------------
# Staff: /checkin_for


@dataclass
class StaffSearch:
    """What staff searched for, until the event is chosen."""

    query: str = ""


SEARCH_FLOW = Flow(
    "checkin_for",
    StaffSearch,
    title_key="flow.checkin_for",
    prompt=True,
    hint_key="checkin.for.ask",
)


async def checkin_for_command(update: Update, context: AsaContext) -> None:
    """/checkin_for <phone or part of a name>: the matching people as buttons."""
    query = " ".join(args_of(context))
    run = SEARCH_FLOW.start(StaffSearch(), "query")
    if not query:
        await run.ask(context, context.t("checkin.for.ask"))
        return
    await _search(update, context, run, query)


@SEARCH_FLOW.on_text("query")
async def search_typed(update: Update, context: AsaContext, run: Run[StaffSearch]) -> None:
    """The name or phone, typed after /checkin_for."""
    await _search(update, context, run, text_of(update))


@SEARCH_FLOW.reasker
async def ask_search_again(update: Update, context: AsaContext, run: Run[StaffSearch]) -> None:
    """The search's question, again."""
    if run.step == "event":
        await _ask_event(
            context, run, await checking.open_events(context.db, now=context.clock.now())
        )
        return
    await run.ask(context, context.t("checkin.for.ask"), step="query")


async def _search(update: Update, context: AsaContext, run: Run[StaffSearch], query: str) -> None:
    """Check the search, then show matches (one open event) or ask which event."""
    if len(query) > SEARCH_MAX_CHARS:
        await message_of(update).reply_text(context.t("checkin.for.too_long"))
        return
    found = await checking.open_events(context.db, now=context.clock.now())
    if not found:
        await run.end(context)
        await message_of(update).reply_text(context.t("checkin.no_open_event"))
        return
    run.draft.query = query
    if len(found) > 1:
        await _ask_event(context, run, found)
        return
    await run.end(context)
    await _show_matches(update, context, found[0], query)


async def _ask_event(context: AsaContext, run: Run[StaffSearch], found: list[EventChoice]) -> None:
    """Several events are open: which one?"""
    rows = [[(event.title[:60], str(event.id))] for event in found]
    await run.ask(context, context.t("checkin.for.which_event"), step="event", buttons=rows)


@SEARCH_FLOW.on_button("event")
async def event_chosen(
    update: Update, context: AsaContext, run: Run[StaffSearch], payload: str
) -> None:
    """Staff picked the event; now the matches."""
    query, _ = query_of(update)
    found = await checking.open_events(context.db, now=context.clock.now())
    event = next((e for e in found if str(e.id) == payload), None)
    if event is None:
        await query.answer(context.t("checkin.no_open_event"), show_alert=True)
        return
    await query.answer()
    await query.edit_message_reply_markup(None)
    search = run.draft.query
    await run.end(context)
    await _show_matches(update, context, event, search)


async def _show_matches(
    update: Update, context: AsaContext, event: EventChoice, query: str
) -> None:
    """The people matching the search, as buttons that check them in to `event`."""
    try:
        result = await checking.search_people(context.db, actor=context.actor, query=query)
    except DomainError as error:
        await _say(update, context, error_text(context, error))
        return
    if not result.matches:
        # Only those who may enter walk-ins are pointed to /walkin.
        may_enter = context.actor.access.can(Capability.REGISTER_WALKINS)
        key = "checkin.for.nobody" if may_enter else "checkin.for.nobody_search_only"
        await context.bot.send_message(context.actor.telegram_id, context.t(key))
        return
    rows = [
        [
            InlineKeyboardButton(
                _match_label(context, match),
                callback_data=f"{PERSON_BUTTON}{event.id}:{match.person_id}",
            )
        ]
        for match in result.matches
    ]
    key = "checkin.for.choose_more" if result.more else "checkin.for.choose"
    await context.bot.send_message(
        context.actor.telegram_id,
        context.t(key, title=event.title, count=len(result.matches)),
        reply_markup=InlineKeyboardMarkup(rows),
    )


def _match_label(context: AsaContext, match: PersonMatch) -> str:
    """A person on a button: name, masked phone, and whether they came without Telegram."""
    parts = [match.full_name[:40]]
    if match.masked_phone:
        parts.append(match.masked_phone)
    if match.is_walkin:
        parts.append(context.t("checkin.for.walkin_mark"))
    return " · ".join(parts)


async def person_chosen(update: Update, context: AsaContext) -> None:
    """Staff picked the person: check them in (the use case re-checks everything)."""
    query, data = query_of(update)
    ids = trailing_ids(data.removeprefix(PERSON_BUTTON), 2)
    if ids is None:
        await query.answer(context.t("error.stale_button"))
        return
    event_id, person_id = ids
    try:
        result = await checking.for_someone(
            context.db,
            actor=context.actor,
            event_id=event_id,
            person_id=person_id,
            now=context.clock.now(),
        )
    except DomainError as error:
        await _say(update, context, error_text(context, error))
        return
    await query.answer()
    at = format_time(result.checked_in_at, lang=context.lang, tz=context.settings.tz)
    await query.edit_message_text(
        context.t(
            "checkin.for.done",
            name=_button_text(query.message, data),
            title=result.event_title,
            at=at,
        )
    )


def _button_text(message: object, data: str) -> str:
    """The text of the pressed button (the person's name as staff saw it)."""
    if not isinstance(message, Message) or message.reply_markup is None:
        return ""
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return ""


# ---------------------------------------------------------------------------------------------
# /checkout


async def checkout_command(update: Update, context: AsaContext) -> None:
    """Record leaving time."""
    try:
        result = await checking.check_out(context.db, actor=context.actor, now=context.clock.now())
    except DomainError as error:
        await message_of(update).reply_text(error_text(context, error))
        return
    tz, lang = context.settings.tz, context.lang
    await message_of(update).reply_text(
        context.t(
            "checkin.out_done",
            title=result.event_title,
            at=format_time(result.checked_out_at, lang=lang, tz=tz),
            since=format_time(result.checked_in_at, lang=lang, tz=tz),
        )
    )


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {
    "checkin": checkin_command,
    "checkin_for": checkin_for_command,
    "checkout": checkout_command,
}


def register(application: AsaApplication) -> None:
    """The staff's person buttons, and the location check-in outside flows."""
    application.add_handler(
        CallbackQueryHandler(person_chosen, pattern=rf"^{PERSON_BUTTON}\d+:\d+$"), group=GROUP_MAIN
    )
    set_location_handler(location_shared)
