"""Events: the /newevent flow (and editing an event), /events cards, sign-ups and the
organisers' buttons.

Handlers parse the update, call one use case (bot/usecases/events.py) and render its result.
Two flows share one typed draft and the same steps: "newevent" and "editevent" (an organiser's
"edit" on a card). The card buttons (`ev:<action>:<event id>`) are stateless and re-checked
when pressed; each switch names the state it sets, so pressing a button twice changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler

from bot.context import AsaApplication, AsaContext
from bot.delivery import scheduler as reminder_alarms
from bot.flows import FLOWS, Flow, Input, Run
from bot.handlers import GROUP_MAIN
from bot.handlers.common import edit_markup, reply_domain_error
from bot.handlers.dispatch import Callback, hint, leave_flow
from bot.handlers.updates import message_of, query_of, text_of, trailing_id, trailing_ids
from bot.i18n import LANGUAGES, translator
from bot.i18n.dates import (
    DateParseError,
    format_time,
    format_time_range,
    parse_datetime,
    parse_time,
    to_local,
)
from bot.render.qr import qr_png
from bot.services import events
from bot.services.errors import DomainError
from bot.services.events import EventFields, InvalidEventField, Switch
from bot.usecases import events as using
from bot.usecases.events import EDIT_EVENT_FLOW, NEW_EVENT_FLOW, Action, Card, Codes, Press, Pressed
from storage.models import RegistrationStatus

# ---------------------------------------------------------------------------------------------
# The draft and the flows

TITLE = "title"
VENUE = "venue"
START = "start"
END = "end"
LOCATION = "location"
RADIUS = "radius"
CAPACITY = "capacity"
CONFIRM = "confirm"
FIELD = "field"  # which field to change, chosen from the summary

# The fields the summary's "edit" offers, and the steps changing each goes through before
# the summary comes back (a new start asks for the end again; a pin asks for its radius).
FIELD_STEPS: dict[str, tuple[str, ...]] = {
    "title": (TITLE,),
    "venue": (VENUE,),
    "start": (START, END),
    "end": (END,),
    "location": (LOCATION, RADIUS),
    "capacity": (CAPACITY,),
}


@dataclass
class EventDraft:
    """An event being written, until it is confirmed (times are aware UTC datetimes)."""

    event_id: int | None = None  # set when an existing event is being changed
    title: str = ""
    venue: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_m: int = events.DEFAULT_RADIUS_M
    capacity: int | None = None
    editing: str | None = None  # the field being changed from the summary


NEW_EVENT = Flow(NEW_EVENT_FLOW, EventDraft, title_key="flow.newevent")
EDIT_EVENT = Flow(EDIT_EVENT_FLOW, EventDraft, title_key="flow.editevent")


def fields_of(draft: EventDraft) -> EventFields | None:
    """The draft as the service's fields, or None while a time is missing."""
    if draft.starts_at is None or draft.ends_at is None:
        return None
    return EventFields(
        title=draft.title,
        venue=draft.venue,
        starts_at=draft.starts_at.astimezone(UTC),
        ends_at=draft.ends_at.astimezone(UTC),
        latitude=draft.latitude,
        longitude=draft.longitude,
        radius_m=draft.radius_m,
        capacity=draft.capacity,
    )


def draft_of(event_id: int, fields: EventFields) -> EventDraft:
    """An existing event as a draft, to be changed."""
    return EventDraft(event_id=event_id, **dataclasses.asdict(fields))


# ---------------------------------------------------------------------------------------------
# Questions


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


def _summary_text(context: AsaContext, fields: EventFields) -> str:
    """The draft as the organiser reads it before confirming."""
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
    when = format_time_range(
        fields.starts_at, fields.ends_at, lang=context.lang, tz=context.settings.tz
    )
    return context.t(
        "events.summary",
        title=fields.title,
        venue=fields.venue,
        when=when,
        place=place,
        capacity=capacity,
    )


def _summary_buttons(context: AsaContext) -> list[list[tuple[str, str]]]:
    """Confirm, edit, or throw the draft away."""
    return [
        [(context.t("events.button.confirm"), "ok"), (context.t("events.button.edit"), "edit")],
        [(context.t("events.button.discard"), "discard")],
    ]


def _field_buttons(context: AsaContext) -> list[list[tuple[str, str]]]:
    """One button per field that can be changed."""
    return [[(context.t(f"events.field.{name}"), name)] for name in FIELD_STEPS]


_QUESTIONS = {
    TITLE: "events.ask.title",
    VENUE: "events.ask.venue",
    START: "events.ask.start",
    END: "events.ask.end",
    LOCATION: "events.ask.location",
    RADIUS: "events.ask.radius",
    CAPACITY: "events.ask.capacity",
}


async def _ask(context: AsaContext, run: Run[EventDraft], step: str, *, problem: str = "") -> None:
    """Ask a step's question (after saying what was wrong, if anything)."""
    if step in (CONFIRM, FIELD):
        fields = fields_of(run.draft)
        if fields is None:  # a time is missing: ask for it first
            await _ask(context, run, START if run.draft.starts_at is None else END)
            return
        buttons = _summary_buttons(context) if step == CONFIRM else _field_buttons(context)
        text = _summary_text(context, fields)
        await run.ask(context, _with_problem(problem, text), step=step, buttons=buttons)
        return
    text = _with_problem(problem, context.t(_QUESTIONS[step]))
    if step == LOCATION:
        await run.ask(context, text, step=step, reply_markup=_location_keyboard(context))
    elif step == RADIUS:
        label = context.t("events.radius.default", radius=events.DEFAULT_RADIUS_M)
        await run.ask(context, text, step=step, buttons=[[(label, "default")]])
    elif step == CAPACITY:
        await run.ask(
            context, text, step=step, buttons=[[(context.t("events.capacity.none"), "none")]]
        )
    else:
        await run.ask(context, text, step=step)


def _with_problem(problem: str, text: str) -> str:
    """What was wrong, then the question."""
    return f"{problem}\n\n{text}" if problem else text


async def _next(context: AsaContext, run: Run[EventDraft], step: str) -> None:
    """The following step; back to the summary once the field being changed is done."""
    editing = run.draft.editing
    if editing is not None and step not in FIELD_STEPS.get(editing, ()):
        run.draft.editing = None
        step = CONFIRM
    await _ask(context, run, step)


# ---------------------------------------------------------------------------------------------
# Steps (the same for a new event and an edited one)


async def ask_again(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """The current step's question, again."""
    await _ask(context, run, run.step)


# What a typed answer is read with, the draft's field it fills, and the step after it.
_TYPED: dict[str, tuple[Callable[[str], object], str, str]] = {
    TITLE: (events.clean_title, "title", VENUE),
    VENUE: (events.clean_venue, "venue", START),
    RADIUS: (events.parse_radius, "radius_m", CAPACITY),
    CAPACITY: (events.parse_capacity, "capacity", CONFIRM),
}
# What the one-tap button of a step puts in the draft (the default radius, or no limit).
_TAPPED: dict[str, tuple[str, object, str]] = {
    RADIUS: ("radius_m", events.DEFAULT_RADIUS_M, CAPACITY),
    CAPACITY: ("capacity", None, CONFIRM),
}


async def value_typed(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """A title, a venue, a radius or a capacity: read by the events service, or refused."""
    read, name, then = _TYPED[run.step]
    try:
        setattr(run.draft, name, read(text_of(update)))
    except InvalidEventField as problem:
        await _ask(context, run, run.step, problem=context.t(problem.key))
        return
    await _next(context, run, then)


async def default_pressed(
    update: Update, context: AsaContext, run: Run[EventDraft], payload: str
) -> None:
    """The default radius, or "no limit": one tap."""
    query, _ = query_of(update)
    await query.answer()
    name, value, then = _TAPPED[run.step]
    setattr(run.draft, name, value)
    await _next(context, run, then)


def _time_problem(context: AsaContext, problem: DateParseError | InvalidEventField) -> str:
    """What is wrong with a typed date or time."""
    if isinstance(problem, DateParseError):
        return context.t(f"events.bad.{problem.reason}")
    return context.t(problem.key)


async def start_typed(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """The start date and time, typed the Thai way or the Gregorian way."""
    try:
        starts_at = parse_datetime(text_of(update), tz=context.settings.tz)
        events.check_start(starts_at=starts_at, now=context.clock.now())
    except (DateParseError, InvalidEventField) as problem:
        await _ask(context, run, START, problem=_time_problem(context, problem))
        return
    run.draft.starts_at = starts_at
    # A new start always asks for the end again: the old end may now come before it.
    run.draft.ends_at = None
    await _next(context, run, END)


def _end_from_text(text: str, starts_at: datetime, context: AsaContext) -> datetime:
    """A bare time is on the start's day; otherwise a full date and time."""
    tz = context.settings.tz
    try:
        clock: time = parse_time(text)
    except DateParseError:
        return parse_datetime(text, tz=tz)
    local_day = to_local(starts_at, tz).date()
    return parse_datetime(f"{local_day.isoformat()} {clock.hour:02d}:{clock.minute:02d}", tz=tz)


async def end_typed(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """The end time (or date and time)."""
    starts_at = run.draft.starts_at
    if starts_at is None:
        await _ask(context, run, START)
        return
    try:
        ends_at = _end_from_text(text_of(update), starts_at, context)
        events.check_times(starts_at=starts_at, ends_at=ends_at)
    except (DateParseError, InvalidEventField) as problem:
        await _ask(context, run, END, problem=_time_problem(context, problem))
        return
    run.draft.ends_at = ends_at
    await _next(context, run, LOCATION)


async def pin_shared(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """The venue's pin (a forwarded one is someone else's, not the organiser's)."""
    message = message_of(update)
    if message.location is None or message.forward_origin is not None:
        await hint(update, context, run.flow, run)
        return
    run.draft.latitude = message.location.latitude
    run.draft.longitude = message.location.longitude
    await message.reply_text(context.t("events.location.got"), reply_markup=ReplyKeyboardRemove())
    await _next(context, run, RADIUS)


def _is_skip(text: str) -> bool:
    """The "no location" button's text, in either language."""
    return text.strip() in {translator(lang)("events.location.skip") for lang in LANGUAGES}


async def no_pin_typed(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """No pin: location check-in will not be offered for this event."""
    if not _is_skip(text_of(update)):
        await _ask(context, run, LOCATION, problem=context.t("events.location.how"))
        return
    run.draft.latitude = run.draft.longitude = None
    await message_of(update).reply_text(
        context.t("events.location.skipped"), reply_markup=ReplyKeyboardRemove()
    )
    await _next(context, run, CAPACITY)


async def summary_pressed(
    update: Update, context: AsaContext, run: Run[EventDraft], payload: str
) -> None:
    """Confirm, edit or discard the draft."""
    query, _ = query_of(update)
    if payload == "ok":
        await _save(update, context, run)
    elif payload == "edit":
        await query.answer()
        # The same message now offers the fields; its older buttons stop working.
        run.new_question(FIELD)
        await run.save(context)
        await edit_markup(query, run.keyboard(_field_buttons(context)))
    elif payload == "discard":
        await query.answer()
        await run.end(context)
        await edit_markup(query, None)
        await context.bot.send_message(context.actor.telegram_id, context.t("events.discarded"))
    else:
        await query.answer(context.t("error.stale_button"))


async def field_pressed(
    update: Update, context: AsaContext, run: Run[EventDraft], payload: str
) -> None:
    """Ask for one field again, then come back to the summary."""
    query, _ = query_of(update)
    steps = FIELD_STEPS.get(payload)
    if steps is None:
        await query.answer(context.t("error.stale_button"))
        return
    await query.answer()
    run.draft.editing = payload
    await _ask(context, run, steps[0])
    await edit_markup(query, None)


async def _save(update: Update, context: AsaContext, run: Run[EventDraft]) -> None:
    """Save the event (ending the flow); a new one's code, link and QR go to the organiser."""
    query, _ = query_of(update)
    fields = fields_of(run.draft)
    if fields is None:
        await query.answer()
        await _ask(context, run, CONFIRM)
        return
    try:
        saved = await using.save(
            context.db,
            actor=context.actor,
            event_id=run.draft.event_id,
            fields=fields,
            now=context.clock.now(),
            notifier=context.runtime.notifier,
            bot_username=context.bot.username,
        )
    except InvalidEventField as problem:
        await query.answer()
        await _ask(context, run, CONFIRM, problem=context.t(problem.key))
        return
    except DomainError as error:
        # The event was cancelled meanwhile, or the organiser lost the right: nothing to save.
        await reply_domain_error(update, context, error)
        await run.end(context)
        await edit_markup(query, None)
        return
    await query.answer()
    await run.end(context)  # already ended with the save; this forgets it in this update too
    await edit_markup(query, None)
    await reminder_alarms.event_changed(context.app, saved.event_id)
    if saved.codes is None:
        await context.bot.send_message(
            context.actor.telegram_id, context.t("events.updated", title=saved.title)
        )
        return
    await _send_codes(context, saved.codes, created=True)


for _flow in (NEW_EVENT, EDIT_EVENT):
    _flow.reasker(ask_again)
    for _step in _TYPED:
        _flow.on_text(_step)(value_typed)
    for _step in _TAPPED:
        _flow.on_button(_step)(default_pressed)
    _flow.on_text(START)(start_typed)
    _flow.on_text(END)(end_typed)
    _flow.on_input(LOCATION, Input.LOCATION)(pin_shared)
    _flow.on_text(LOCATION)(no_pin_typed)
    _flow.on_button(CONFIRM)(summary_pressed)
    _flow.on_button(FIELD)(field_pressed)


async def newevent_command(update: Update, context: AsaContext) -> None:
    """/newevent: a new event, one question at a time (organisers and admins)."""
    run = NEW_EVENT.start(EventDraft(), TITLE)
    await message_of(update).reply_text(context.t("events.new.intro"))
    await _ask(context, run, TITLE)


async def edit_pressed(update: Update, context: AsaContext, event_id: int) -> None:
    """An organiser's "edit" on a card: the event as a draft, at the summary."""
    query, _ = query_of(update)
    try:
        fields = await using.existing_event(context.db, actor=context.actor, event_id=event_id)
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return
    await query.answer()
    await _leave_open_flow(context)
    await _ask(context, EDIT_EVENT.start(draft_of(event_id, fields), CONFIRM), CONFIRM)


async def _leave_open_flow(context: AsaContext) -> None:
    """A flow the person had open ends (saying so, unless it was only a waiting prompt)."""
    state = context.actor.flow
    if state is None:
        return
    flow = FLOWS.get(state.name)
    await leave_flow(context, key=None if flow is not None and flow.prompt else "flow.left")


# ---------------------------------------------------------------------------------------------
# Codes, link and QR


async def _send_codes(context: AsaContext, shown: Codes, *, created: bool = False) -> None:
    """The check-in code, the deep link and the QR image, ready to print or project."""
    chat_id = context.actor.telegram_id
    key = "events.codes" if created else "events.codes_again"
    lines = [context.t(key, title=shown.title, code=shown.code, link=shown.link)]
    if shown.valid_until is not None:
        until = format_time(shown.valid_until, lang=context.lang, tz=context.settings.tz)
        lines.append(context.t("events.code_rotating", until=until))
    await context.bot.send_message(chat_id, "\n".join(lines), reply_markup=ReplyKeyboardRemove())
    await context.bot.send_photo(
        chat_id, qr_png(shown.link), caption=context.t("events.qr_caption", title=shown.title)
    )


# ---------------------------------------------------------------------------------------------
# /events cards

BUTTON_PREFIX = "ev:"

_SWITCH_LABELS = {
    Switch.OPEN: "events.button.open_checkin",
    Switch.CLOSE: "events.button.close_checkin",
    Switch.AUTO_ON: "events.button.auto_on",
    Switch.AUTO_OFF: "events.button.auto_off",
    Switch.CHECKOUT_ON: "events.button.checkout_on",
    Switch.CHECKOUT_OFF: "events.button.checkout_off",
}


def _card_text(context: AsaContext, card: Card, *, warning: str = "") -> str:
    """One event as a message (and a warning under it while a confirmation waits)."""
    when = format_time_range(
        card.starts_at, card.ends_at, lang=context.lang, tz=context.settings.tz
    )
    lines = [context.t("events.card", title=card.title, when=when, venue=card.venue)]
    if card.capacity:
        lines.append(
            context.t(
                "events.card.seats",
                signed_up=card.signed_up,
                capacity=card.capacity,
                waiting=card.waiting,
            )
        )
    else:
        lines.append(context.t("events.card.count", signed_up=card.signed_up))
    if card.cancelled:
        lines.append(context.t("events.card.cancelled"))
    elif card.checkin_open:
        lines.append(context.t("events.card.open"))
    mine = card.mine
    if mine is not None and mine.status == RegistrationStatus.REGISTERED:
        lines.append(context.t("events.card.you_signed_up"))
    elif mine is not None and mine.status == RegistrationStatus.WAITLISTED:
        lines.append(context.t("events.card.you_waiting", position=mine.waitlist_position or 0))
    if warning:
        lines.extend(["", warning])
    return "\n".join(lines)


def _button(context: AsaContext, key: str, data: str) -> InlineKeyboardButton:
    """A card button."""
    return InlineKeyboardButton(context.t(key), callback_data=f"{BUTTON_PREFIX}{data}")


def _card_markup(context: AsaContext, card: Card) -> InlineKeyboardMarkup | None:
    """Sign up or withdraw; for organisers also the manage buttons."""
    if card.cancelled:
        return None
    eid = card.event_id
    sign = (
        _button(context, "events.button.withdraw", f"unreg:{eid}")
        if card.mine is not None
        else _button(context, "events.button.sign_up", f"reg:{eid}")
    )
    rows = [[sign]]
    if card.managed:
        checkin, rotation, checkout = (
            _button(context, _SWITCH_LABELS[switch], f"{switch.value}:{eid}")
            for switch in card.switches
        )
        rows += [
            [_button(context, "events.button.edit", f"edit:{eid}"), checkin],
            [
                _button(context, "events.button.show_code", f"code:{eid}"),
                _button(context, "events.button.rotate", f"rot:{eid}"),
            ],
            [rotation, checkout],
            [_button(context, "events.button.cancel_event", f"cancel:{eid}")],
        ]
    return InlineKeyboardMarkup(rows)


async def _redraw(update: Update, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Show the card's new state on the pressed message; a press that changed nothing (a
    second press of the same button) leaves it as it is, without an error."""
    query, _ = query_of(update)
    message = query.message
    if isinstance(message, Message) and message.text == text:
        await edit_markup(query, markup)
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise


async def events_command(update: Update, context: AsaContext) -> None:
    """Upcoming and current events; organisers get manage buttons."""
    message = message_of(update)
    cards = await using.list_cards(context.db, actor=context.actor, now=context.clock.now())
    if not cards:
        await message.reply_text(context.t("events.none"))
        return
    await message.reply_text(context.t("events.list_header"))
    for card in cards:
        await message.reply_text(
            _card_text(context, card), reply_markup=_card_markup(context, card)
        )


# -- the buttons --------------------------------------------------------------------------

_ACTIONS = {action.value: action for action in Action if action is not Action.SWITCH}
_SWITCHES = {switch.value: switch for switch in Switch}


def parse_button(data: str) -> Press | None:
    """`ev:<action>:<event id>` (`ev:rotyes:<event id>:<code version>`), or None when it is
    not one: ids are bounded before anything reads them."""
    action, _, rest = data.removeprefix(BUTTON_PREFIX).partition(":")
    if action == Action.ROTATE.value:
        ids = trailing_ids(rest, 2) if rest.count(":") == 1 else None
        return None if ids is None else Press(Action.ROTATE, ids[0], version=ids[1])
    event_id = trailing_id(rest) if ":" not in rest else None
    if event_id is None:
        return None
    if action in _SWITCHES:
        return Press(Action.SWITCH, event_id, switch=_SWITCHES[action])
    if action in _ACTIONS:
        return Press(_ACTIONS[action], event_id)
    return None


async def event_button(update: Update, context: AsaContext) -> None:
    """Every card button: parsed, done by one use case (which checks rights and the event's
    state, whatever the button claims), and answered."""
    query, data = query_of(update)
    button = parse_button(data)
    if button is None:
        await query.answer(context.t("error.stale_button"))
        return
    if button.action is Action.EDIT:
        await edit_pressed(update, context, button.event_id)
        return
    try:
        done = await using.press(
            context.db,
            actor=context.actor,
            button=button,
            now=context.clock.now(),
            notifier=context.runtime.notifier,
            bot_username=context.bot.username,
        )
    except DomainError as error:
        # Refused, or already done (a second "yes, cancel it" finds the event cancelled).
        await reply_domain_error(update, context, error)
        return
    await _answer(update, context, button, done)


async def _answer(update: Update, context: AsaContext, button: Press, done: Pressed) -> None:
    """Say what the button did and redraw the card (or ask to confirm on it)."""
    query, _ = query_of(update)
    action, card = button.action, done.card
    if action in (Action.ASK_ROTATE, Action.ASK_CANCEL):
        await query.answer()
        await _ask_to_confirm(update, context, action, card)
        return
    text, alert = _reply_to(context, button, done)
    await query.answer(text, show_alert=alert)
    if done.reschedule:
        await reminder_alarms.event_changed(context.app, card.event_id)
    if action is not Action.CODE:
        await _redraw(update, _card_text(context, card), _card_markup(context, card))
    if done.codes is not None:
        await _send_codes(context, done.codes)
    if action is Action.CANCEL:
        told = context.t("events.cancelled_done", title=card.title, told=done.told)
        await context.bot.send_message(context.actor.telegram_id, told)


def _reply_to(context: AsaContext, button: Press, done: Pressed) -> tuple[str | None, bool]:
    """The short answer to a press, and whether it stays until the person taps it away."""
    t, sign_up = context.t, done.sign_up
    if button.action is Action.SIGN_UP and sign_up is not None:
        if sign_up.status == RegistrationStatus.WAITLISTED:
            return t("events.rsvp.waiting", position=sign_up.waitlist_position or 0), True
        return t("events.rsvp.signed_up"), False
    if button.action is Action.ROTATE:
        if done.changed:
            return t("events.done.rotate"), False
        return t("events.rotate.already"), True
    if button.switch is not None:
        return t(f"events.done.{button.switch.value}"), False
    if button.action is Action.WITHDRAW:
        return t("events.rsvp.withdrawn"), False
    if button.action is Action.CODE:
        return t("events.done.code"), False
    return None, False


async def _ask_to_confirm(update: Update, context: AsaContext, action: Action, card: Card) -> None:
    """A new code or a cancellation does damage: the card says what, and asks first."""
    if action is Action.ASK_ROTATE:
        warning = context.t("events.rotate.warning")
        yes_key, yes_data = (
            "events.button.rotate_yes",
            f"rotyes:{card.event_id}:{card.code_version}",
        )
        no_key = "events.button.rotate_no"
    else:
        warning = context.t("events.cancel.warning", signed_up=card.signed_up, waiting=card.waiting)
        yes_key, yes_data = "events.button.cancel_yes", f"cancelyes:{card.event_id}"
        no_key = "events.button.cancel_no"
    markup = InlineKeyboardMarkup(
        [
            [
                _button(context, yes_key, yes_data),
                _button(context, no_key, f"keep:{card.event_id}"),
            ]
        ]
    )
    await _redraw(update, _card_text(context, card, warning=warning), markup)


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {
    "newevent": newevent_command,
    "events": events_command,
}


def register(application: AsaApplication) -> None:
    """The card buttons (the flows' own buttons go through the flow dispatcher)."""
    application.add_handler(
        CallbackQueryHandler(event_button, pattern=f"^{BUTTON_PREFIX}"), group=GROUP_MAIN
    )
