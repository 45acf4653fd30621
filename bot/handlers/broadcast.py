"""/broadcast, /announcements, and the answers registrants give on a reminder.

Handlers parse the update, call one use case (bot/usecases/broadcast.py) and render its result.
Two flows: /broadcast (who: a kind of audience and its values; the text; a preview with the
number of recipients; now or at a time; a last confirmation), which writes nothing before that
confirmation, and the reschedule prompt of /announcements (the new time). The buttons of
/announcements and of reminders are stateless and re-checked when pressed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from bot.context import AsaApplication, AsaContext
from bot.delivery import scheduler
from bot.delivery.reminders import RSVP_PREFIX, confirm_keyboard, rsvp_keyboard
from bot.flows import FLOWS, Flow, Rows, Run
from bot.handlers import GROUP_MAIN
from bot.handlers.common import edit_markup, reply_domain_error
from bot.handlers.dispatch import Callback, leave_flow
from bot.handlers.updates import formatted_text_of, message_of, query_of, text_of, trailing_id
from bot.i18n.dates import DateParseError, format_datetime, parse_datetime
from bot.services.announcements import MAX_TEXT_CHARS, NotInFuture, Summary
from bot.services.audiences import EVENT_KINDS, AudienceKind
from bot.services.errors import DomainError
from bot.services.reminders import RsvpResult
from bot.usecases import broadcast as broadcasting
from bot.usecases.broadcast import Audience, Option

_log = logging.getLogger(__name__)

# Stateless buttons of /announcements: "ann:c:<id>" cancel, "ann:r:<id>" reschedule.
ANN_PREFIX = "ann:"
TICK = "✅ "
LABEL_CHARS = 40


def _error(context: AsaContext, error: DomainError) -> str:
    """A refusal in the person's language."""
    return context.t(error.key, **error.values)


async def _say(context: AsaContext, text: str, **kwargs: Any) -> Message:
    """A new message to the person who wrote."""
    return await context.bot.send_message(context.actor.telegram_id, text, **kwargs)


async def _retire(update: Update) -> None:
    """Answer the press and take the buttons off its message (the question is answered)."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    await edit_markup(query, None)


def _when(context: AsaContext, moment: datetime) -> str:
    """A moment as this person reads dates."""
    return format_datetime(moment, lang=context.lang, tz=context.settings.tz)


# ---------------------------------------------------------------------------------------------
# Describing an audience


def _value_label(context: AsaContext, kind: str, value: Any) -> str:
    """One chosen value in words: a zone's or district's name, a role, a participant type."""
    geography = context.runtime.geography
    if kind == AudienceKind.ZONES and isinstance(value, int):
        zone = geography.zone(value)
        return zone.name(context.lang) if zone is not None else str(value)
    if kind == AudienceKind.DISTRICTS:
        district = geography.district(str(value))
        return district.name(context.lang) if district is not None else str(value)
    found = {o.value: o for o in broadcasting.term_options(kind)}.get(str(value))
    return context.t(found.term) if found is not None and found.term else str(value)


def describe(context: AsaContext, spec: dict[str, Any], event_title: str | None) -> str:
    """The audience in words: "โซน: โซน 3", "ผู้ลงทะเบียน <event>", "... (เฉพาะโซน 3)"."""
    kind = str(spec.get("kind", ""))
    if kind in EVENT_KINDS:
        shown = event_title or f"#{spec.get('event_id')}"
    else:
        shown = ", ".join(_value_label(context, kind, v) for v in spec.get("values", []))
    text = context.t(f"broadcast.audience.{kind}", values=shown)
    zones = spec.get("zones")
    if zones:
        names = ", ".join(_value_label(context, AudienceKind.ZONES, z) for z in zones)
        text = context.t("broadcast.audience.in_zones", audience=text, zones=names)
    return text


def _option_label(context: AsaContext, option: Option) -> str:
    """How an option reads on its button."""
    if option.term is not None:
        return context.t(option.term)
    label = option.name[:LABEL_CHARS]
    if option.starts_at is not None:
        short = format_datetime(
            option.starts_at, lang=context.lang, tz=context.settings.tz, style="short"
        )
        label = f"{label} · {short}"
    return label


# ---------------------------------------------------------------------------------------------
# /broadcast


@dataclass
class BroadcastDraft:
    """What the author has chosen so far (nothing is written elsewhere before confirming)."""

    kind: str = ""
    values: list[str] = field(default_factory=list)
    event_id: int | None = None
    text: str = ""
    entities: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    send_at: datetime | None = None

    def spec(self) -> dict[str, Any]:
        """The audience chosen, as a spec."""
        return broadcasting.spec_of(self.kind, self.values, self.event_id)


BROADCAST = Flow(
    "broadcast",
    BroadcastDraft,
    title_key="flow.broadcast",
    # /broadcast again starts over, quietly.
    commands=frozenset({"broadcast"}),
)


async def broadcast_command(update: Update, context: AsaContext) -> None:
    """Start a broadcast: to whom?"""
    try:
        kinds = broadcasting.kinds(context.actor)
    except DomainError as error:
        await message_of(update).reply_text(_error(context, error))
        return
    run = BROADCAST.start(BroadcastDraft(), "kind")
    await _ask_kind(context, run, kinds)


def _cancel_row(context: AsaContext) -> list[tuple[str, str]]:
    """The way out, under every question of the flow."""
    return [(context.t("broadcast.button.cancel"), "no")]


async def _ask_kind(
    context: AsaContext, run: Run[BroadcastDraft], kinds: list[AudienceKind]
) -> None:
    """The kinds of audience this person may choose."""
    rows: Rows = [[(context.t(f"broadcast.kind.{k.value}"), f"k:{k.value}")] for k in kinds]
    await run.ask(
        context,
        context.t("broadcast.choose_kind"),
        step="kind",
        buttons=[*rows, _cancel_row(context)],
    )


async def _cancelled(update: Update, context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """The author pressed Cancel: nothing was saved."""
    await _retire(update)
    await run.end(context)
    await _say(context, context.t("broadcast.cancelled"))


Step = Callable[[Update, AsaContext, Run[BroadcastDraft], str], Awaitable[None]]


def _buttons_of(step: str) -> Callable[[Step], Step]:
    """Declare the buttons of a step; Cancel ("no"), under every question, is answered here."""

    def register(handler: Step) -> Step:
        async def pressed(
            update: Update, context: AsaContext, run: Run[BroadcastDraft], payload: str
        ) -> None:
            if payload == "no":
                await _cancelled(update, context, run)
                return
            await handler(update, context, run, payload)

        pressed.__doc__ = handler.__doc__
        BROADCAST.on_button(step)(pressed)
        return handler

    return register


@_buttons_of("kind")
async def kind_chosen(
    update: Update, context: AsaContext, run: Run[BroadcastDraft], payload: str
) -> None:
    """Everyone goes straight to the text; the other kinds ask for their values."""
    query, _ = query_of(update)
    try:
        kinds = broadcasting.kinds(context.actor)
    except DomainError as error:
        await query.answer(_error(context, error)[:200], show_alert=True)
        return
    kind = next((k for k in kinds if payload == f"k:{k.value}"), None)
    if kind is None:
        await query.answer(context.t("error.stale_button"))
        return
    await _retire(update)
    run.draft = BroadcastDraft(kind=kind.value)
    if kind is AudienceKind.EVERYONE:
        await _ask_text(context, run)
        return
    options = await _options(context, kind)
    if not options:
        await _say(context, context.t(f"broadcast.none.{kind.value}"))
        await _ask_kind(context, run, kinds)
        return
    await _ask_values(context, run, options)


async def _options(context: AsaContext, kind: AudienceKind) -> list[Option]:
    """The values this person can pick for the kind."""
    return await broadcasting.options(
        context.db,
        actor=context.actor,
        kind=kind,
        geography=context.runtime.geography,
        lang=context.lang,
        now=context.clock.now(),
    )


def _value_rows(context: AsaContext, run: Run[BroadcastDraft], options: list[Option]) -> Rows:
    """The value buttons (ticked when chosen) and, for lists, Done; then Cancel."""
    single = run.draft.kind in EVENT_KINDS
    chosen = set(run.draft.values)
    buttons = [
        (f"{TICK if o.value in chosen else ''}{_option_label(context, o)}", f"v:{o.value}")
        for o in options
    ]
    width = 1 if single else 2
    rows: list[list[tuple[str, str]]] = [
        buttons[i : i + width] for i in range(0, len(buttons), width)
    ]
    if not single:
        rows.append([(context.t("broadcast.button.done"), "done")])
    rows.append(_cancel_row(context))
    return rows


async def _ask_values(context: AsaContext, run: Run[BroadcastDraft], options: list[Option]) -> None:
    """Which zones, districts, roles, types, or which event."""
    await run.ask(
        context,
        context.t(f"broadcast.choose.{run.draft.kind}"),
        step="values",
        buttons=_value_rows(context, run, options),
    )


@_buttons_of("values")
async def value_pressed(
    update: Update, context: AsaContext, run: Run[BroadcastDraft], payload: str
) -> None:
    """Toggle a zone, district, role or type; an event is chosen at once; Done; Cancel."""
    query, _ = query_of(update)
    if payload == "done":
        if not run.draft.values:
            await query.answer(context.t("broadcast.choose_one"), show_alert=True)
            return
        await _retire(update)
        await _ask_text(context, run)
        return
    options = await _options(context, AudienceKind(run.draft.kind))
    value = payload.removeprefix("v:")
    if not payload.startswith("v:") or value not in {o.value for o in options}:
        await query.answer(context.t("error.stale_button"))
        return
    if run.draft.kind in EVENT_KINDS:
        run.draft.event_id = int(value)
        await _retire(update)
        await _ask_text(context, run)
        return
    values = run.draft.values
    if value in values:
        values.remove(value)
    else:
        values.append(value)
    await query.answer()
    await edit_markup(query, run.keyboard(_value_rows(context, run, options)))


async def _audience(context: AsaContext, run: Run[BroadcastDraft]) -> Audience | None:
    """The chosen audience, checked against the rules and counted now; None (the flow over,
    and the person told why) if they may not address it."""
    try:
        found = await broadcasting.audience(context.db, actor=context.actor, spec=run.draft.spec())
    except DomainError as error:
        await run.end(context)
        await _say(context, _error(context, error))
        return None
    run.draft.count = found.count
    return found


async def _ask_text(context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """Check the audience against the rules (and count it), then ask for the message."""
    if await _audience(context, run) is None:
        return
    await run.ask(context, context.t("broadcast.write", limit=MAX_TEXT_CHARS), step="text")


@BROADCAST.on_text("text")
async def text_written(update: Update, context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """The message, kept with its formatting; then shown as recipients will see it."""
    text, entities = formatted_text_of(update)
    try:
        broadcasting.check_text(text)
    except DomainError as error:
        await message_of(update).reply_text(_error(context, error))
        return
    run.draft.text, run.draft.entities = text, entities
    await _preview(context, run)


async def _preview(context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """The message as recipients will see it, then who gets it (counted now) and what next."""
    found = await _audience(context, run)
    if found is None:
        return
    await _say(
        context,
        run.draft.text,
        entities=[MessageEntity.de_json(e, context.bot) for e in run.draft.entities],
    )
    summary = context.t(
        "broadcast.preview",
        audience=describe(context, found.spec, found.event_title),
        count=found.count,
    )
    t = context.t
    await run.ask(
        context,
        summary,
        step="preview",
        buttons=[
            [(t("broadcast.button.now"), "now"), (t("broadcast.button.later"), "later")],
            [(t("broadcast.button.edit"), "edit"), (t("broadcast.button.cancel"), "no")],
        ],
    )


@_buttons_of("preview")
async def preview_answered(
    update: Update, context: AsaContext, run: Run[BroadcastDraft], payload: str
) -> None:
    """Send now (then confirm), later (ask the time), write again, or cancel."""
    query, _ = query_of(update)
    if payload not in ("now", "later", "edit"):
        await query.answer(context.t("error.stale_button"))
        return
    await _retire(update)
    if payload == "now":
        run.draft.send_at = None
        await _ask_confirm(context, run)
    elif payload == "later":
        await run.ask(context, context.t("broadcast.ask_time"), step="time")
    else:
        await run.ask(context, context.t("broadcast.write", limit=MAX_TEXT_CHARS), step="text")


def _future_time(context: AsaContext, text: str) -> datetime | str:
    """The moment typed, if it is one in the future; else the key saying why not."""
    try:
        moment = parse_datetime(text, tz=context.settings.tz)
    except DateParseError as error:
        return f"broadcast.time.{error.reason}"
    try:
        broadcasting.check_send_at(moment, now=context.clock.now())
    except DomainError as error:
        return error.key
    return moment


@BROADCAST.on_text("time")
async def time_typed(update: Update, context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """The time to send at: checked, then confirmed."""
    moment = _future_time(context, text_of(update))
    if isinstance(moment, str):
        await message_of(update).reply_text(context.t(moment))
        return
    run.draft.send_at = moment
    await _ask_confirm(context, run)


async def _ask_confirm(context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """The last question: send (or schedule) this to these people?"""
    draft = run.draft
    if draft.send_at is not None:
        text = context.t(
            "broadcast.confirm_later", when=_when(context, draft.send_at), count=draft.count
        )
    else:
        text = context.t("broadcast.confirm_now", count=draft.count)
    await run.ask(
        context,
        text,
        step="confirm",
        buttons=[[(context.t("broadcast.button.confirm"), "yes"), _cancel_row(context)[0]]],
    )


@_buttons_of("confirm")
async def confirmed(
    update: Update, context: AsaContext, run: Run[BroadcastDraft], payload: str
) -> None:
    """Create the announcement (everything is checked again) and hand it to the outbox."""
    query, _ = query_of(update)
    if payload != "yes":
        await query.answer(context.t("error.stale_button"))
        return
    await _retire(update)
    draft = run.draft
    try:
        # The announcement and the end of this flow in one transaction: a second "send" (a
        # retried press, or one after a crash) finds the flow over, not a second broadcast.
        async with run.ending(context):
            created = await broadcasting.confirm(
                context.db,
                actor=context.actor,
                spec=draft.spec(),
                text=draft.text,
                entities=draft.entities,
                send_at=draft.send_at,
                now=context.clock.now(),
            )
    except NotInFuture as error:
        await _say(context, _error(context, error))
        await run.ask(context, context.t("broadcast.ask_time"), step="time")
        return
    except DomainError as error:
        await run.end(context)
        await _say(context, _error(context, error))
        return
    scheduler.announcement_changed(context.app, created.id, created.send_at)
    if created.send_at is None:
        text = context.t("broadcast.sending", id=created.id, count=created.count)
    else:
        text = context.t("broadcast.scheduled", id=created.id, when=_when(context, created.send_at))
    await _say(context, text)


@BROADCAST.reasker
async def ask_again(update: Update, context: AsaContext, run: Run[BroadcastDraft]) -> None:
    """The current step's question, again (after a hint, /help or /lang)."""
    step = run.step
    if step == "values":
        options = await _options(context, AudienceKind(run.draft.kind))
        if options:
            await _ask_values(context, run, options)
            return
        step = "kind"
    if step == "kind":
        try:
            kinds = broadcasting.kinds(context.actor)
        except DomainError as error:
            await run.end(context)
            await _say(context, _error(context, error))
            return
        await _ask_kind(context, run, kinds)
    elif step == "text":
        await run.ask(context, context.t("broadcast.write", limit=MAX_TEXT_CHARS))
    elif step == "preview":
        await _preview(context, run)
    elif step == "time":
        await run.ask(context, context.t("broadcast.ask_time"))
    else:
        await _ask_confirm(context, run)


# ---------------------------------------------------------------------------------------------
# /announcements


async def announcements_command(update: Update, context: AsaContext) -> None:
    """Scheduled and recent broadcasts with their progress; scheduled ones can be changed."""
    summaries = await broadcasting.listing(context.db, actor=context.actor)
    message = message_of(update)
    if not summaries:
        await message.reply_text(context.t("announcements.none"))
        return
    await message.reply_text(context.t("announcements.title"))
    for summary in summaries:
        await message.reply_text(
            _summary_text(context, summary), reply_markup=_summary_markup(context, summary)
        )


def _summary_markup(context: AsaContext, summary: Summary) -> InlineKeyboardMarkup | None:
    """Cancel / Reschedule, while it is scheduled."""
    if summary.status != "scheduled":
        return None
    t = context.t
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("announcements.button.cancel"), callback_data=f"{ANN_PREFIX}c:{summary.id}"
                ),
                InlineKeyboardButton(
                    t("announcements.button.reschedule"),
                    callback_data=f"{ANN_PREFIX}r:{summary.id}",
                ),
            ]
        ]
    )


def _summary_text(context: AsaContext, summary: Summary) -> str:
    """The words of one /announcements line."""
    p = summary.progress
    return context.t(
        "announcements.line",
        id=summary.id,
        status=context.t(f"announcements.status.{summary.status}"),
        when=format_datetime(
            summary.send_at, lang=context.lang, tz=context.settings.tz, style="short"
        ),
        audience=describe(context, summary.audience, summary.event_title),
        preview=summary.preview,
        sent=p.sent,
        total=p.total,
        blocked=p.blocked,
        failed=p.failed,
    )


async def cancel_pressed(update: Update, context: AsaContext) -> None:
    """Cancel a scheduled announcement (the use case checks who, and whether it started)."""
    query, data = query_of(update)
    announcement_id = trailing_id(data)
    if announcement_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    try:
        await broadcasting.cancel(
            context.db,
            actor=context.actor,
            announcement_id=announcement_id,
            now=context.clock.now(),
        )
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return
    scheduler.announcement_changed(context.app, announcement_id, None)
    await query.answer()
    await query.edit_message_text(context.t("announcements.cancelled", id=announcement_id))


@dataclass
class RescheduleDraft:
    """Which announcement gets a new time."""

    announcement_id: int = 0


RESCHEDULE = Flow("reschedule", RescheduleDraft, title_key="flow.reschedule", prompt=True)


async def reschedule_pressed(update: Update, context: AsaContext) -> None:
    """Ask for the new time, if the answer could be used (the author or an organiser, and
    only while it has not started)."""
    query, data = query_of(update)
    announcement_id = trailing_id(data)
    if announcement_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    try:
        await broadcasting.check_editable(
            context.db, actor=context.actor, announcement_id=announcement_id
        )
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return
    await query.answer()
    open_flow = context.actor.flow
    if open_flow is not None:
        # One question at a time: whatever else was waiting gives way (a prompt quietly).
        flow = FLOWS.get(open_flow.name)
        await leave_flow(context, key=None if flow is None or flow.prompt else "flow.left")
    run = RESCHEDULE.start(RescheduleDraft(announcement_id), "time")
    await _ask_new_time(context, run)


async def _ask_new_time(context: AsaContext, run: Run[RescheduleDraft]) -> None:
    """When should it go instead?"""
    await run.ask(
        context, context.t("announcements.ask_time", id=run.draft.announcement_id), step="time"
    )


@RESCHEDULE.on_text("time")
async def reschedule_typed(update: Update, context: AsaContext, run: Run[RescheduleDraft]) -> None:
    """The new time: the announcement moves if it has not started."""
    moment = _future_time(context, text_of(update))
    if isinstance(moment, str):
        await message_of(update).reply_text(context.t(moment))
        return
    announcement_id = run.draft.announcement_id
    try:
        await broadcasting.reschedule(
            context.db,
            actor=context.actor,
            announcement_id=announcement_id,
            send_at=moment,
            now=context.clock.now(),
        )
    except NotInFuture as error:
        await message_of(update).reply_text(_error(context, error))
        return
    except DomainError as error:
        await run.end(context)
        await message_of(update).reply_text(_error(context, error))
        return
    await run.end(context)
    scheduler.announcement_changed(context.app, announcement_id, moment)
    await message_of(update).reply_text(
        context.t("announcements.rescheduled", id=announcement_id, when=_when(context, moment))
    )


@RESCHEDULE.reasker
async def ask_new_time_again(
    update: Update, context: AsaContext, run: Run[RescheduleDraft]
) -> None:
    """The prompt's question, again."""
    await _ask_new_time(context, run)


# ---------------------------------------------------------------------------------------------
# Answers on a reminder


def _without_answer(context: AsaContext, text: str) -> str:
    """A reminder's text without an answer an earlier press added to it."""
    for key in ("reminder.answer.yes", "reminder.answer.kept"):
        text = text.removesuffix(f"\n\n{context.t(key)}")
    return text


async def _show_answer(
    query: CallbackQuery, context: AsaContext, answer: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Write the answer under the reminder, with the buttons that still apply."""
    message = query.message
    if not isinstance(message, Message) or not message.text:
        return
    try:
        await query.edit_message_text(
            f"{_without_answer(context, message.text)}\n\n{answer}",
            entities=message.entities,
            reply_markup=markup,
        )
    except TelegramError:
        _log.debug("could not update the reminder", exc_info=True)


async def rsvp_pressed(update: Update, context: AsaContext) -> None:
    """ "I'll be there" / "I can't come" (which asks first) on a reminder."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    action = data.removeprefix(RSVP_PREFIX)[:1]
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    actor, now = context.actor, context.clock.now()
    result: RsvpResult
    try:
        if action == "y":
            result = await broadcasting.attend(context.db, actor=actor, event_id=event_id, now=now)
        elif action == "x":
            result = await broadcasting.withdraw(
                context.db,
                actor=actor,
                notifier=context.runtime.notifier,
                event_id=event_id,
                now=now,
            )
        else:
            result = await broadcasting.ask_withdrawal(
                context.db, actor=actor, event_id=event_id, now=now
            )
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return
    lang = context.lang
    if action == "n":
        # One tap must not give the place away: ask first.
        await query.answer(context.t("reminder.confirm_withdraw"), show_alert=True)
        await edit_markup(query, confirm_keyboard(event_id, lang))
        return
    if action == "b":
        answer = context.t("reminder.answer.kept")
        await query.answer(answer)
        await _show_answer(query, context, answer, rsvp_keyboard(event_id, lang))
        return
    answer = context.t("reminder.answer.yes" if result.attending else "reminder.answer.no")
    await query.answer(answer)
    await _show_answer(
        query, context, answer, rsvp_keyboard(event_id, lang) if result.attending else None
    )


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {
    "broadcast": broadcast_command,
    "announcements": announcements_command,
}


def register(application: AsaApplication) -> None:
    """The buttons of /announcements and of reminders."""
    application.add_handlers(
        [
            CallbackQueryHandler(cancel_pressed, pattern=rf"^{ANN_PREFIX}c:\d+$"),
            CallbackQueryHandler(reschedule_pressed, pattern=rf"^{ANN_PREFIX}r:\d+$"),
            CallbackQueryHandler(rsvp_pressed, pattern=rf"^{RSVP_PREFIX}[ynxb]:\d+$"),
        ],
        group=GROUP_MAIN,
    )
