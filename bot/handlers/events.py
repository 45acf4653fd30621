"""Events: the /newevent conversation, the /events list, RSVPs and organisers' manage buttons."""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import AsaApplication, AsaContext
from bot.delivery import scheduler as reminder_alarms
from bot.handlers import GROUP_MAIN
from bot.handlers.common import current_access, current_person, edit_markup, reply_domain_error
from bot.handlers.updates import message_of, query_of, trailing_id
from bot.i18n import translator
from bot.i18n.dates import (
    DateParseError,
    format_datetime,
    format_time,
    format_time_range,
    parse_datetime,
    parse_time,
    to_local,
)
from bot.render.qr import qr_png
from bot.services import checkins, codes, events
from bot.services.access import Access, Capability
from bot.services.errors import DomainError, NotFound
from bot.services.events import EventFields, InvalidEventField, Recipient
from storage.models import Event, EventStatus, RegistrationStatus

_log = logging.getLogger(__name__)

# Conversation states (strings, so persisted states stay readable).
TITLE = "ev.title"
VENUE = "ev.venue"
START = "ev.start"
END = "ev.end"
LOCATION = "ev.location"
RADIUS = "ev.radius"
CAPACITY = "ev.capacity"
CONFIRM = "ev.confirm"

DRAFT_KEY = "event_draft"
AUTO_ROTATE_SECONDS = 300
EDITABLE = ("title", "venue", "start", "end", "location", "capacity")
# The steps that editing one field goes through before returning to the summary.
_CHAIN_OF_FIELD = {
    "title": (TITLE,),
    "venue": (VENUE,),
    "start": (START, END),
    "end": (END,),
    "location": (LOCATION, RADIUS),
    "capacity": (CAPACITY,),
}
_STEP_OF_FIELD = {
    "title": TITLE,
    "venue": VENUE,
    "start": START,
    "end": END,
    "location": LOCATION,
    "capacity": CAPACITY,
}


# ---------------------------------------------------------------------------------------------
# The draft (JSON-friendly, persisted with the person's user data)


def _draft(context: AsaContext) -> dict[str, Any]:
    """The event being written, kept in user_data until it is confirmed."""
    if context.user_data is None:
        return {}
    draft: dict[str, Any] = context.user_data.setdefault(DRAFT_KEY, {})
    return draft


def _drop_draft(context: AsaContext) -> None:
    """Forget the draft (after confirming or cancelling)."""
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)


def _moment(value: Any) -> datetime | None:
    """A stored ISO time back as a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _fields(draft: dict[str, Any]) -> EventFields:
    """The draft as service fields (KeyError/TypeError if incomplete)."""
    starts_at, ends_at = _moment(draft["starts_at"]), _moment(draft["ends_at"])
    if starts_at is None or ends_at is None:
        raise KeyError("times")
    return EventFields(
        title=draft["title"],
        venue=draft["venue"],
        starts_at=starts_at,
        ends_at=ends_at,
        latitude=draft.get("latitude"),
        longitude=draft.get("longitude"),
        radius_m=int(draft.get("radius_m") or events.DEFAULT_RADIUS_M),
        capacity=draft.get("capacity"),
    )


# ---------------------------------------------------------------------------------------------
# Prompts


def _location_keyboard(context: AsaContext) -> ReplyKeyboardMarkup:
    """A button that shares a pin, and one to go without."""
    return ReplyKeyboardMarkup(
        [
            [KeyboardButton(context.t("events.location.share"), request_location=True)],
            [KeyboardButton(context.t("events.location.skip"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def _radius_keyboard(context: AsaContext) -> InlineKeyboardMarkup:
    """The default radius, one tap."""
    label = context.t("events.radius.default", radius=events.DEFAULT_RADIUS_M)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"ne:radius:{events.DEFAULT_RADIUS_M}")]]
    )


def _capacity_keyboard(context: AsaContext) -> InlineKeyboardMarkup:
    """No limit, one tap."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(context.t("events.capacity.none"), callback_data="ne:nocap")]]
    )


async def _ask(update: Update, context: AsaContext, step: str, *, problem: str = "") -> str:
    """Ask for a step (after saying what was wrong, if anything) and remember the step."""
    _draft(context)["step"] = step
    prompts: dict[str, tuple[str, Any]] = {
        TITLE: ("events.ask.title", None),
        VENUE: ("events.ask.venue", None),
        START: ("events.ask.start", None),
        END: ("events.ask.end", None),
        LOCATION: ("events.ask.location", _location_keyboard(context)),
        RADIUS: ("events.ask.radius", _radius_keyboard(context)),
        CAPACITY: ("events.ask.capacity", _capacity_keyboard(context)),
    }
    if step == CONFIRM:
        await _show_summary(update, context, problem=problem)
        return CONFIRM
    key, markup = prompts[step]
    text = context.t(key)
    if problem:
        text = f"{problem}\n\n{text}"
    await _send(update, text, markup)
    return step


async def _send(update: Update, text: str, markup: Any = None) -> None:
    """Reply in the chat of this update (message or button press)."""
    if update.callback_query is not None and update.effective_chat is not None:
        await update.callback_query.get_bot().send_message(
            update.effective_chat.id, text, reply_markup=markup
        )
        return
    await message_of(update).reply_text(text, reply_markup=markup)


def _summary_text(context: AsaContext, draft: dict[str, Any]) -> str:
    """The draft as the organiser reads it before confirming."""
    fields = _fields(draft)
    tz, lang = context.settings.tz, context.lang
    if fields.latitude is not None and fields.longitude is not None:
        place = context.t(
            "events.summary.pin",
            lat=f"{fields.latitude:.5f}",
            lon=f"{fields.longitude:.5f}",
            radius=fields.radius_m,
        )
    else:
        place = context.t("events.summary.no_pin")
    capacity = (
        context.t("events.summary.capacity", capacity=fields.capacity)
        if fields.capacity
        else context.t("events.summary.no_capacity")
    )
    return context.t(
        "events.summary",
        title=fields.title,
        venue=fields.venue,
        when=format_time_range(fields.starts_at, fields.ends_at, lang=lang, tz=tz),
        place=place,
        capacity=capacity,
    )


async def _show_summary(update: Update, context: AsaContext, *, problem: str = "") -> None:
    """The summary with confirm / edit / cancel buttons."""
    draft = _draft(context)
    draft["step"] = CONFIRM
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(context.t("events.button.confirm"), callback_data="ne:ok"),
                InlineKeyboardButton(context.t("events.button.edit"), callback_data="ne:edit"),
            ],
            [InlineKeyboardButton(context.t("events.button.discard"), callback_data="ne:cancel")],
        ]
    )
    text = _summary_text(context, draft)
    if problem:
        text = f"{problem}\n\n{text}"
    await _send(update, text, keyboard)


async def _next(update: Update, context: AsaContext, step: str) -> str:
    """The following step, or back to the summary once the field being edited is done."""
    draft = _draft(context)
    editing = draft.get("editing")
    if editing and step not in _CHAIN_OF_FIELD.get(str(editing), ()):
        draft.pop("editing", None)
        return await _ask(update, context, CONFIRM)
    return await _ask(update, context, step)


# ---------------------------------------------------------------------------------------------
# The /newevent conversation


async def newevent(update: Update, context: AsaContext) -> str | int:
    """Start a new event (organisers and admins only)."""
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
    if not access.can(Capability.MANAGE_EVENTS):
        await message_of(update).reply_text(context.t("error.not_allowed"))
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = {}
    await message_of(update).reply_text(context.t("events.new.intro"))
    return await _ask(update, context, TITLE)


async def got_title(update: Update, context: AsaContext) -> str:
    """The title."""
    try:
        _draft(context)["title"] = events.clean_title(message_of(update).text or "")
    except InvalidEventField as problem:
        return await _ask(update, context, TITLE, problem=context.t(problem.key))
    return await _next(update, context, VENUE)


async def got_venue(update: Update, context: AsaContext) -> str:
    """The venue."""
    try:
        _draft(context)["venue"] = events.clean_venue(message_of(update).text or "")
    except InvalidEventField as problem:
        return await _ask(update, context, VENUE, problem=context.t(problem.key))
    return await _next(update, context, START)


async def got_start(update: Update, context: AsaContext) -> str:
    """The start date and time, typed the Thai way or the Gregorian way."""
    text = message_of(update).text or ""
    try:
        starts_at = parse_datetime(text, tz=context.settings.tz)
    except DateParseError as problem:
        return await _ask(update, context, START, problem=context.t(f"events.bad.{problem.reason}"))
    if starts_at <= context.clock.now():
        return await _ask(update, context, START, problem=context.t("events.bad.past"))
    draft = _draft(context)
    draft["starts_at"] = starts_at.isoformat()
    # A new start always asks for the end again: the old end may now come before it.
    draft["ends_at"] = None
    return await _next(update, context, END)


def _end_from_text(text: str, starts_at: datetime, context: AsaContext) -> datetime:
    """A bare time is on the start's day; otherwise a full date and time."""
    tz = context.settings.tz
    try:
        clock: time = parse_time(text)
    except DateParseError:
        return parse_datetime(text, tz=tz)
    local_day = to_local(starts_at, tz).date()
    return parse_datetime(f"{local_day.isoformat()} {clock.hour:02d}:{clock.minute:02d}", tz=tz)


async def got_end(update: Update, context: AsaContext) -> str:
    """The end time (or date and time)."""
    draft = _draft(context)
    starts_at = _moment(draft.get("starts_at"))
    if starts_at is None:
        return await _ask(update, context, START)
    try:
        ends_at = _end_from_text(message_of(update).text or "", starts_at, context)
        events.check_times(starts_at=starts_at, ends_at=ends_at)
    except DateParseError as problem:
        return await _ask(update, context, END, problem=context.t(f"events.bad.{problem.reason}"))
    except InvalidEventField as problem:
        return await _ask(update, context, END, problem=context.t(problem.key))
    draft["ends_at"] = ends_at.isoformat()
    return await _next(update, context, LOCATION)


async def got_location(update: Update, context: AsaContext) -> str:
    """The venue's pin."""
    message = message_of(update)
    if message.location is None:
        return await _ask(update, context, LOCATION)
    draft = _draft(context)
    draft["latitude"] = message.location.latitude
    draft["longitude"] = message.location.longitude
    await message.reply_text(context.t("events.location.got"), reply_markup=ReplyKeyboardRemove())
    return await _next(update, context, RADIUS)


async def skipped_location(update: Update, context: AsaContext) -> str:
    """No pin: location check-in will not be offered for this event."""
    if (message_of(update).text or "").strip() != context.t("events.location.skip"):
        return await _ask(update, context, LOCATION, problem=context.t("events.location.how"))
    draft = _draft(context)
    draft["latitude"] = draft["longitude"] = None
    await message_of(update).reply_text(
        context.t("events.location.skipped"), reply_markup=ReplyKeyboardRemove()
    )
    return await _next(update, context, CAPACITY)


async def got_radius(update: Update, context: AsaContext) -> str:
    """A radius typed in metres."""
    try:
        _draft(context)["radius_m"] = events.parse_radius(message_of(update).text or "")
    except InvalidEventField as problem:
        return await _ask(update, context, RADIUS, problem=context.t(problem.key))
    return await _next(update, context, CAPACITY)


async def default_radius(update: Update, context: AsaContext) -> str:
    """The default radius button."""
    query, _ = query_of(update)
    await query.answer()
    if _draft(context).get("step") != RADIUS:
        return await _ask(update, context, _draft(context).get("step") or TITLE)
    _draft(context)["radius_m"] = events.DEFAULT_RADIUS_M
    return await _next(update, context, CAPACITY)


async def got_capacity(update: Update, context: AsaContext) -> str:
    """A capacity typed as a number."""
    try:
        _draft(context)["capacity"] = events.parse_capacity(message_of(update).text or "")
    except InvalidEventField as problem:
        return await _ask(update, context, CAPACITY, problem=context.t(problem.key))
    return await _next(update, context, CONFIRM)


async def no_capacity(update: Update, context: AsaContext) -> str:
    """The "no limit" button."""
    query, _ = query_of(update)
    await query.answer()
    if _draft(context).get("step") != CAPACITY:
        return await _ask(update, context, _draft(context).get("step") or TITLE)
    _draft(context)["capacity"] = None
    return await _next(update, context, CONFIRM)


async def edit_menu(update: Update, context: AsaContext) -> str:
    """Which field to change."""
    query, _ = query_of(update)
    await query.answer()
    rows = [
        [InlineKeyboardButton(context.t(f"events.field.{name}"), callback_data=f"ne:f:{name}")]
        for name in EDITABLE
    ]
    await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
    return CONFIRM


async def edit_field(update: Update, context: AsaContext) -> str:
    """Ask for one field again, then come back to the summary."""
    query, data = query_of(update)
    name = data.removeprefix("ne:f:")
    if name not in _STEP_OF_FIELD:
        await query.answer(context.t("error.stale_button"))
        return CONFIRM
    await query.answer()
    await query.edit_message_reply_markup(None)
    _draft(context)["editing"] = name
    return await _ask(update, context, _STEP_OF_FIELD[name])


async def confirm(update: Update, context: AsaContext) -> str | int:
    """Save the event; a new one's code, link and QR go to the organiser."""
    query, _ = query_of(update)
    draft = _draft(context)
    try:
        fields = _fields(draft)
    except (KeyError, TypeError, ValueError):
        await query.answer(context.t("error.stale_button"))
        return ConversationHandler.END
    now = context.clock.now()
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        try:
            if draft.get("event_id"):
                event, promoted = await events.update_event(
                    session=session,
                    access=access,
                    event_id=int(draft["event_id"]),
                    fields=fields,
                    now=now,
                )
            else:
                event = await events.create_event(
                    session=session, access=access, fields=fields, now=now
                )
                promoted = []
        except InvalidEventField as problem:
            await query.answer()
            return await _ask(update, context, CONFIRM, problem=context.t(problem.key))
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return CONFIRM
    await query.answer()
    await query.edit_message_reply_markup(None)
    _drop_draft(context)
    if event.id is not None:
        await reminder_alarms.event_changed(context.app, event.id)
    if draft.get("event_id"):
        await _send(update, context.t("events.updated", title=event.title))
        await _tell_promoted(context, promoted, event)
    else:
        await send_event_codes(update, context, event, created=True)
    return ConversationHandler.END


async def discard(update: Update, context: AsaContext) -> int:
    """Throw the draft away."""
    query, _ = query_of(update)
    await query.answer()
    await query.edit_message_reply_markup(None)
    _drop_draft(context)
    await _send(update, context.t("events.discarded"))
    return ConversationHandler.END


async def cancel(update: Update, context: AsaContext) -> int:
    """/cancel: nothing was saved."""
    _drop_draft(context)
    await message_of(update).reply_text(
        context.t("events.discarded"), reply_markup=ReplyKeyboardRemove()
    )
    return ConversationHandler.END


async def reask(update: Update, context: AsaContext) -> str:
    """Anything the current step cannot use: say so and ask again."""
    step = _draft(context).get("step") or TITLE
    if update.callback_query is not None:
        await update.callback_query.answer(context.t("error.stale_button"))
        return str(step)
    if step == CONFIRM:
        return await _ask(update, context, CONFIRM, problem=context.t("events.use_buttons"))
    return await _ask(update, context, str(step), problem=context.t("events.not_understood"))


async def edit_existing(update: Update, context: AsaContext) -> str | int:
    """An organiser's "edit" button on /events: the event as a draft, at the summary."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        if not access.can(Capability.MANAGE_EVENTS):
            await query.answer(context.t("error.not_allowed"), show_alert=True)
            return ConversationHandler.END
        try:
            event = await events.get_event(session=session, event_id=event_id or 0)
        except NotFound:
            await query.answer(context.t("error.stale_button"))
            return ConversationHandler.END
    if event.status == EventStatus.CANCELLED:
        await query.answer(context.t("events.is_cancelled"), show_alert=True)
        return ConversationHandler.END
    await query.answer()
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = {
            "event_id": event.id,
            "title": event.title,
            "venue": event.venue,
            "starts_at": event.starts_at.isoformat(),
            "ends_at": event.ends_at.isoformat(),
            "latitude": event.latitude,
            "longitude": event.longitude,
            "radius_m": event.radius_m,
            "capacity": event.capacity,
        }
    return await _ask(update, context, CONFIRM)


# ---------------------------------------------------------------------------------------------
# Code, link and QR


async def send_event_codes(
    update: Update, context: AsaContext, event: Event, *, created: bool = False
) -> None:
    """The check-in code, the deep link and the QR image, ready to print or project."""
    chat = update.effective_chat
    if chat is None:
        return
    username = context.bot.username
    link = codes.deep_link(username, event.token)
    now = context.clock.now()
    code = checkins.current_code(event, now)
    until = checkins.code_valid_until(event, now)
    key = "events.codes" if created else "events.codes_again"
    lines = [context.t(key, title=event.title, code=code, link=link)]
    if until is not None:
        tz = context.settings.tz
        lines.append(
            context.t("events.code_rotating", until=format_time(until, lang=context.lang, tz=tz))
        )
    await context.bot.send_message(chat.id, "\n".join(lines), reply_markup=ReplyKeyboardRemove())
    await context.bot.send_photo(
        chat.id, qr_png(link), caption=context.t("events.qr_caption", title=event.title)
    )


# ---------------------------------------------------------------------------------------------
# /events and its buttons


async def _card(
    context: AsaContext, event: Event, *, person_id: int | None, manager: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One event as a message, with RSVP and (for organisers) manage buttons."""
    tz, lang, now = context.settings.tz, context.lang, context.clock.now()
    async with context.sessions() as session:
        registered, waiting = await events.registration_counts(
            session=session, event_id=event.id or 0
        )
        mine = None
        if person_id is not None:
            mine = await events.registration_of(
                session=session, event_id=event.id or 0, person_id=person_id
            )
    lines = [
        context.t(
            "events.card",
            title=event.title,
            when=format_time_range(event.starts_at, event.ends_at, lang=lang, tz=tz),
            venue=event.venue,
        )
    ]
    if event.capacity:
        lines.append(
            context.t(
                "events.card.seats", registered=registered, capacity=event.capacity, waiting=waiting
            )
        )
    else:
        lines.append(context.t("events.card.count", registered=registered))
    if event.status == EventStatus.CANCELLED:
        lines.append(context.t("events.card.cancelled"))
    elif checkins.window_open(event, now):
        lines.append(context.t("events.card.open"))
    if mine is not None and mine.status == RegistrationStatus.REGISTERED:
        lines.append(context.t("events.card.you_registered"))
    elif mine is not None and mine.status == RegistrationStatus.WAITLISTED:
        lines.append(context.t("events.card.you_waiting"))
    rows: list[list[InlineKeyboardButton]] = []
    if event.status == EventStatus.ACTIVE:
        rows.append([_rsvp_button(context, event, mine is not None and mine.status != "cancelled")])
        if manager:
            rows.extend(_manage_rows(context, event, now))
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


def _rsvp_button(context: AsaContext, event: Event, registered: bool) -> InlineKeyboardButton:
    """Register, or withdraw."""
    if registered:
        return InlineKeyboardButton(
            context.t("events.button.unregister"), callback_data=f"ev:unreg:{event.id}"
        )
    return InlineKeyboardButton(
        context.t("events.button.register"), callback_data=f"ev:reg:{event.id}"
    )


def _manage_rows(
    context: AsaContext, event: Event, now: datetime
) -> list[list[InlineKeyboardButton]]:
    """Organisers' buttons."""
    t, eid = context.t, event.id
    toggle = (
        InlineKeyboardButton(t("events.button.close_checkin"), callback_data=f"ev:close:{eid}")
        if checkins.window_open(event, now)
        else InlineKeyboardButton(t("events.button.open_checkin"), callback_data=f"ev:open:{eid}")
    )
    auto = "events.button.auto_off" if event.code_rotate_seconds else "events.button.auto_on"
    checkout = (
        "events.button.checkout_off" if event.checkout_enabled else "events.button.checkout_on"
    )
    return [
        [
            InlineKeyboardButton(t("events.button.edit"), callback_data=f"ev:edit:{eid}"),
            toggle,
        ],
        [
            InlineKeyboardButton(t("events.button.show_code"), callback_data=f"ev:code:{eid}"),
            InlineKeyboardButton(t("events.button.rotate"), callback_data=f"ev:rot:{eid}"),
        ],
        [
            InlineKeyboardButton(t(auto), callback_data=f"ev:auto:{eid}"),
            InlineKeyboardButton(t(checkout), callback_data=f"ev:out:{eid}"),
        ],
        [InlineKeyboardButton(t("events.button.cancel_event"), callback_data=f"ev:cancel:{eid}")],
    ]


async def events_command(update: Update, context: AsaContext) -> None:
    """Upcoming and current events; organisers get manage buttons."""
    message = message_of(update)
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        found = await events.upcoming(session=session, now=context.clock.now())
    if not found:
        await message.reply_text(context.t("events.none"))
        return
    await message.reply_text(context.t("events.list_header"))
    manager = access.can(Capability.MANAGE_EVENTS)
    for event in found:
        text, markup = await _card(
            context, event, person_id=person.id if person else None, manager=manager
        )
        await message.reply_text(text, reply_markup=markup)


async def _refresh_card(update: Update, context: AsaContext, event_id: int) -> None:
    """Redraw the card the button was on, with the event's current state."""
    query, _ = query_of(update)
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        event = await events.get_event(session=session, event_id=event_id)
    text, markup = await _card(
        context,
        event,
        person_id=person.id if person else None,
        manager=access.can(Capability.MANAGE_EVENTS),
    )
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except TelegramError:
        # "Message is not modified" and the like: the card already shows this state.
        _log.debug("card of event %s not redrawn", event_id)


async def rsvp_pressed(update: Update, context: AsaContext) -> None:
    """Register for an event (or join its waiting list)."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    async with context.sessions() as session:
        person = await current_person(update, session)
        if person is None or person.id is None:
            await query.answer(context.t("error.not_registered"), show_alert=True)
            return
        try:
            result = await events.rsvp(
                session=session, event_id=event_id, person_id=person.id, now=context.clock.now()
            )
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    if result.status == RegistrationStatus.WAITLISTED:
        await query.answer(
            context.t("events.rsvp.waiting", position=result.waitlist_position or 0),
            show_alert=True,
        )
    else:
        await query.answer(context.t("events.rsvp.registered"))
    await _refresh_card(update, context, event_id)


async def unrsvp_pressed(update: Update, context: AsaContext) -> None:
    """Withdraw; the first on the waiting list moves up and is told."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    async with context.sessions() as session:
        person = await current_person(update, session)
        if person is None or person.id is None:
            await query.answer(context.t("error.not_registered"), show_alert=True)
            return
        try:
            result = await events.cancel_rsvp(
                session=session, event_id=event_id, person_id=person.id, now=context.clock.now()
            )
            event = await events.get_event(session=session, event_id=event_id)
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await query.answer(context.t("events.rsvp.cancelled"))
    await _refresh_card(update, context, event_id)
    await _tell_promoted(context, [result.promoted] if result.promoted else [], event)


async def _notify(context: AsaContext, recipients: list[Recipient], key: str, event: Event) -> int:
    """Tell each person directly, in their language; a blocked person does not stop the rest."""
    told = 0
    tz = context.settings.tz
    for recipient in recipients:
        t = translator(recipient.language)
        when = format_datetime(event.starts_at, lang=recipient.language, tz=tz)
        try:
            await context.bot.send_message(
                recipient.telegram_id, t(key, title=event.title, when=when)
            )
            told += 1
        except Forbidden:
            _log.info("person %s has blocked the bot; not told", recipient.person_id)
        except TelegramError as error:
            _log.warning("could not tell person %s: %s", recipient.person_id, type(error).__name__)
    return told


async def _tell_promoted(context: AsaContext, promoted: list[Recipient], event: Event) -> None:
    """People moved up from the waiting list hear about it at once."""
    await _notify(context, promoted, "events.promoted", event)


async def manage_pressed(update: Update, context: AsaContext) -> None:
    """Organisers' buttons: open/close check-in, rotate, auto-rotate, check-out, show code."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    action = data.split(":")[1] if data.count(":") == 2 else ""
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    now = context.clock.now()
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        try:
            event = await _manage(session, access, action, event_id, now)
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    if event is None:
        await query.answer(context.t("error.stale_button"))
        return
    await query.answer(context.t(f"events.done.{action}"))
    if action in ("open", "close"):
        await reminder_alarms.event_changed(context.app, event_id)
    if action in ("code", "rot"):
        await send_event_codes(update, context, event)
    await _refresh_card(update, context, event_id)


async def _manage(
    session: AsyncSession, access: Access, action: str, event_id: int, now: datetime
) -> Event | None:
    """Run one manage action through the events service (which checks permission)."""
    if action == "open":
        return await events.set_checkin_override(
            session=session, access=access, event_id=event_id, override="open", now=now
        )
    if action == "close":
        return await events.set_checkin_override(
            session=session, access=access, event_id=event_id, override="closed", now=now
        )
    if action == "rot":
        return await events.rotate_code(session=session, access=access, event_id=event_id, now=now)
    if action == "auto":
        current = await events.get_event(session=session, event_id=event_id)
        seconds = None if current.code_rotate_seconds else AUTO_ROTATE_SECONDS
        return await events.set_auto_rotation(
            session=session, access=access, event_id=event_id, seconds=seconds, now=now
        )
    if action == "out":
        current = await events.get_event(session=session, event_id=event_id)
        return await events.set_checkout(
            session=session,
            access=access,
            event_id=event_id,
            enabled=not current.checkout_enabled,
            now=now,
        )
    if action == "code":
        access.require(Capability.MANAGE_EVENTS)
        return await events.get_event(session=session, event_id=event_id)
    return None


async def cancel_pressed(update: Update, context: AsaContext) -> None:
    """Ask before cancelling an event."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
    if event_id is None or not access.can(Capability.MANAGE_EVENTS):
        await query.answer(context.t("error.not_allowed"), show_alert=True)
        return
    await query.answer()
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.t("events.button.cancel_yes"), callback_data=f"ev:cancelyes:{event_id}"
                ),
                InlineKeyboardButton(
                    context.t("events.button.cancel_no"), callback_data=f"ev:keep:{event_id}"
                ),
            ]
        ]
    )
    await edit_markup(query, keyboard)


async def cancel_confirmed(update: Update, context: AsaContext) -> None:
    """Cancel the event and tell everyone who registered or was waiting."""
    query, data = query_of(update)
    event_id = trailing_id(data) or 0
    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
        try:
            recipients = await events.cancel_event(
                session=session, access=access, event_id=event_id, now=context.clock.now()
            )
            event = await events.get_event(session=session, event_id=event_id)
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await query.answer()
    await reminder_alarms.event_changed(context.app, event_id)
    await _refresh_card(update, context, event_id)
    told = await _notify(context, recipients, "events.cancelled_notice", event)
    await _send(update, context.t("events.cancelled_done", title=event.title, told=told))


async def keep_pressed(update: Update, context: AsaContext) -> None:
    """Changed their mind: the card comes back."""
    query, data = query_of(update)
    await query.answer()
    await _refresh_card(update, context, trailing_id(data) or 0)


# ---------------------------------------------------------------------------------------------
# Wiring


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"newevent", "events"})


def register(application: AsaApplication) -> None:
    """/newevent, /events and the buttons; then location check-in (after the venue pin step)."""
    text = filters.TEXT & ~filters.COMMAND
    conversation = ConversationHandler(
        entry_points=[
            CommandHandler("newevent", newevent),
            CallbackQueryHandler(edit_existing, pattern=r"^ev:edit:\d+$"),
        ],
        states={
            TITLE: [MessageHandler(text, got_title)],
            VENUE: [MessageHandler(text, got_venue)],
            START: [MessageHandler(text, got_start)],
            END: [MessageHandler(text, got_end)],
            LOCATION: [
                MessageHandler(filters.LOCATION & ~filters.FORWARDED, got_location),
                MessageHandler(text, skipped_location),
            ],
            RADIUS: [
                MessageHandler(text, got_radius),
                CallbackQueryHandler(default_radius, pattern=r"^ne:radius:"),
            ],
            CAPACITY: [
                MessageHandler(text, got_capacity),
                CallbackQueryHandler(no_capacity, pattern=r"^ne:nocap$"),
            ],
            CONFIRM: [
                CallbackQueryHandler(confirm, pattern=r"^ne:ok$"),
                CallbackQueryHandler(edit_menu, pattern=r"^ne:edit$"),
                CallbackQueryHandler(edit_field, pattern=r"^ne:f:"),
                CallbackQueryHandler(discard, pattern=r"^ne:cancel$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            MessageHandler(filters.UpdateType.MESSAGE, reask),
            CallbackQueryHandler(reask, pattern=r"^ne:"),
        ],
        name="newevent",
        persistent=True,
        allow_reentry=True,
    )
    application.add_handler(conversation, group=GROUP_MAIN)
    application.add_handlers(
        [
            CommandHandler("events", events_command),
            CallbackQueryHandler(rsvp_pressed, pattern=r"^ev:reg:\d+$"),
            CallbackQueryHandler(unrsvp_pressed, pattern=r"^ev:unreg:\d+$"),
            CallbackQueryHandler(cancel_pressed, pattern=r"^ev:cancel:\d+$"),
            CallbackQueryHandler(cancel_confirmed, pattern=r"^ev:cancelyes:\d+$"),
            CallbackQueryHandler(keep_pressed, pattern=r"^ev:keep:\d+$"),
            CallbackQueryHandler(
                manage_pressed, pattern=r"^ev:(open|close|rot|auto|out|code):\d+$"
            ),
        ],
        group=GROUP_MAIN,
    )
    # Registered after /newevent, so an organiser's venue pin is never taken as a check-in.
