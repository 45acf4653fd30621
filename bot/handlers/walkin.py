"""/walkin and /merge: staff entering people without Telegram, and one record per person.

/walkin asks which event (when several are open), then the person-field steps registration
shares (bot/handlers/person_steps.py) in the door's order: name, who, agency, district, role and
phone (which may be left out). Before anything is written, staff see the records that may be
the same person (the same phone number, or the same name in the same district): "this is the
person" checks that record in; "someone new" goes on to the summary, which saves a new walk-in
record and checks it in.

/merge lists pairs of records that may be one person (at least one of them a walk-in) and the
latest merges, each with an undo button; `/merge 081-234-5678` looks at one number. Its buttons
are stateless (`mg:...`) and re-checked when pressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler

from bot.context import AsaApplication, AsaContext
from bot.flows import Flow, Run
from bot.handlers import GROUP_MAIN
from bot.handlers.checkin_texts import error_text
from bot.handlers.dispatch import Callback
from bot.handlers.person_steps import (
    DOOR,
    PersonSteps,
    district_label,
    edit_rows,
    masked_phone,
    summary_lines,
)
from bot.handlers.updates import args_of, message_of, parse_id, query_of, trailing_ids
from bot.i18n.dates import format_time
from bot.services.errors import DomainError
from bot.services.merges import Candidate, PersonCard
from bot.services.registration import InvalidFields, PersonDraft
from bot.services.validation import InvalidPhone, normalise_phone
from bot.services.walkins import KnownPerson
from bot.usecases import walkin as walking

MERGE = "mg:"
TITLE_CHARS = 60
NAME_CHARS = 40


# ---------------------------------------------------------------------------------------------
# /walkin


@dataclass
class WalkinDraft:
    """A walk-in being entered: for which event, the answers, and whether staff have seen the
    records that may be the same person."""

    person: PersonDraft = field(default_factory=PersonDraft)
    event_id: int = 0
    event_title: str = ""
    looked_up: bool = False


WALKIN = Flow("walkin", WalkinDraft, title_key="flow.walkin")


async def _fields_done(update: Update, context: AsaContext, run: Run[WalkinDraft]) -> None:
    """Every answer is in: first the records that may be this person, then the summary."""
    if not run.draft.looked_up:
        try:
            known = await walking.known_people(context.db, entry=_entry(context, run))
        except InvalidFields as error:
            await STEPS.redo(context, run, str(error.values.get("field")), _invalid(context))
            return
        run.draft.looked_up = True
        if known:
            await _ask_known(context, run, known)
            return
    await _show_summary(context, run)


STEPS = PersonSteps(WALKIN, DOOR, person=lambda draft: draft.person, done=_fields_done)


def _entry(context: AsaContext, run: Run[WalkinDraft]) -> walking.Entry:
    """Who is entering whom."""
    return walking.Entry(context.actor, run.draft.person, context.runtime.geography)


def _invalid(context: AsaContext) -> str:
    """What staff read when an answer turned out unusable at the end."""
    return context.t("walkin.invalid")


async def walkin_command(update: Update, context: AsaContext) -> None:
    """/walkin: which event (if several are open), then the person's details."""
    await _ask_event(update, context, WALKIN.start(WalkinDraft(), "event"))


async def _ask_event(update: Update, context: AsaContext, run: Run[WalkinDraft]) -> None:
    """The open events as buttons; with one, straight on to the first question."""
    found = await walking.open_events(context.db, actor=context.actor, now=context.clock.now())
    if not found:
        await run.end(context)
        await message_of(update).reply_text(context.t("checkin.no_open_event"))
        return
    if len(found) > 1:
        rows = [[(event.title[:TITLE_CHARS], str(event.id))] for event in found]
        await run.ask(context, context.t("walkin.which_event"), step="event", buttons=rows)
        return
    run.draft.event_id, run.draft.event_title = found[0].id, found[0].title
    await STEPS.ask_next(update, context, run)


@WALKIN.on_button("event")
async def event_chosen(
    update: Update, context: AsaContext, run: Run[WalkinDraft], payload: str
) -> None:
    """The event, when several are open (it must still be open)."""
    query, _ = query_of(update)
    found = await walking.open_events(context.db, actor=context.actor, now=context.clock.now())
    event = next((e for e in found if str(e.id) == payload), None)
    if event is None:
        await query.answer(context.t("checkin.no_open_event"), show_alert=True)
        return
    run.draft.event_id, run.draft.event_title = event.id, event.title
    await query.answer()
    await query.edit_message_text(f"{context.t('walkin.which_event')}\n\n✅ {event.title}")
    await STEPS.ask_next(update, context, run)


def _record_line(context: AsaContext, record: KnownPerson | PersonCard, *more: str) -> str:
    """One record: name, hidden phone, district, Telegram or entered at the door, and `more`."""
    t, geo = context.t, context.runtime.geography
    parts = [record.full_name[:NAME_CHARS] or t("person.summary.none")]
    if record.phone:
        parts.append(masked_phone(record.phone))
    district = geo.district(record.district_code) if record.district_code else None
    if district is not None:
        parts.append(district_label(t, district, geo))
    parts.append(t("walkin.known.telegram" if record.has_telegram else "walkin.known.walkin"))
    return " · ".join([*parts, *more])


async def _ask_known(context: AsaContext, run: Run[WalkinDraft], known: list[KnownPerson]) -> None:
    """The records that may be this person; staff say which, or that this is someone new."""
    t = context.t
    lines = [t("walkin.known.title"), ""]
    lines += [f"{n}. {_record_line(context, k)}" for n, k in enumerate(known, start=1)]
    rows = [
        [(t("walkin.known.use", n=n, name=k.full_name[:NAME_CHARS]), f"use:{k.person_id}")]
        for n, k in enumerate(known, start=1)
    ]
    rows.append([(t("walkin.known.new"), "new")])
    await run.ask(context, "\n".join(lines), step="known", buttons=rows)


@WALKIN.on_button("known")
async def known_chosen(
    update: Update, context: AsaContext, run: Run[WalkinDraft], payload: str
) -> None:
    """ "This is the person": check that record in. "Someone new": on to the summary."""
    query, _ = query_of(update)
    if payload == "new":
        await query.answer()
        await query.edit_message_reply_markup(None)
        await _show_summary(context, run)
        return
    person_id = parse_id(payload.removeprefix("use:")) if payload.startswith("use:") else None
    if person_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    try:
        result, name = await walking.use_known(
            context.db,
            actor=context.actor,
            event_id=run.draft.event_id,
            person_id=person_id,
            now=context.clock.now(),
        )
    except DomainError as error:
        text = error_text(context, error)
    else:
        at = format_time(result.checked_in_at, lang=context.lang, tz=context.settings.tz)
        text = context.t("walkin.known.done", name=name, title=result.event_title, at=at)
    await STEPS.finish(update, context, run, text)


async def _show_summary(context: AsaContext, run: Run[WalkinDraft]) -> None:
    """What will be saved, with save, discard and a button to change each answer."""
    t = context.t
    lines = summary_lines(t, run.draft.person, context.runtime.geography)
    text = t("walkin.summary", title=run.draft.event_title) + "\n\n" + "\n".join(lines)
    rows = [
        [(t("walkin.button.save"), "save")],
        [(t("walkin.button.discard"), "discard")],
        *edit_rows(t, run.draft.person, DOOR.order),
    ]
    await run.ask(context, text, step="summary", buttons=rows)


@STEPS.on_summary
async def summary_pressed(
    update: Update, context: AsaContext, run: Run[WalkinDraft], payload: str
) -> None:
    """Save (a new record, checked in) or discard (or change one answer)."""
    query, _ = query_of(update)
    if payload == "discard":
        text = context.t("walkin.discarded")
    elif payload == "save":
        try:
            # The record and the end of this flow in one transaction: a second "save" (a
            # retried press, or one after a crash) finds the flow over, not a second record.
            async with run.ending(context):
                result = await walking.save(
                    context.db,
                    entry=_entry(context, run),
                    event_id=run.draft.event_id,
                    now=context.clock.now(),
                )
        except InvalidFields as error:
            await query.answer()
            await STEPS.redo(context, run, str(error.values.get("field")), _invalid(context))
            return
        except DomainError as error:
            text = error_text(context, error)
        else:
            at = format_time(result.checked_in_at, lang=context.lang, tz=context.settings.tz)
            name = run.draft.person.full_name or ""
            text = context.t("walkin.done", name=name, title=result.event_title, at=at)
    else:
        await query.answer(context.t("error.stale_button"))
        return
    await STEPS.finish(update, context, run, text)


@WALKIN.reasker
async def ask_walkin_again(update: Update, context: AsaContext, run: Run[WalkinDraft]) -> None:
    """The current question, once more."""
    if await STEPS.reask(context, run):
        return
    if run.step == "event":
        await _ask_event(update, context, run)
    elif run.step == "known":
        run.draft.looked_up = False
        await _fields_done(update, context, run)
    else:
        await _show_summary(context, run)


# ---------------------------------------------------------------------------------------------
# /merge


def _card_line(context: AsaContext, card: PersonCard) -> str:
    """One record, with how many check-ins it has."""
    return _record_line(context, card, context.t.plural("merge.check_ins", card.check_ins))


def _pair_text(context: AsaContext, pair: Candidate) -> str:
    """Two records: the one merged away, and the one that stays."""
    return "\n".join(
        [
            context.t("merge.merged", card=_card_line(context, pair.merged)),
            context.t("merge.kept", card=_card_line(context, pair.kept)),
        ]
    )


def _buttons(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Stateless buttons from (text, data) rows."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


async def merge_command(update: Update, context: AsaContext) -> None:
    """/merge [phone]: records that may be one person, and the latest merges."""
    t = context.t
    typed = " ".join(args_of(context))
    phone = None
    if typed:
        try:
            phone = normalise_phone(typed)
        except InvalidPhone:
            await message_of(update).reply_text(t("merge.usage"))
            return
    overview = await walking.merge_overview(context.db, actor=context.actor, phone=phone)
    if not overview.candidates and not overview.recent:
        await message_of(update).reply_text(t("merge.none"))
        return
    lines: list[str] = []
    rows: list[list[tuple[str, str]]] = []
    if overview.candidates:
        lines.append(t("merge.title", count=len(overview.candidates)))
        for n, pair in enumerate(overview.candidates, start=1):
            lines += ["", f"{n}.", _pair_text(context, pair)]
            data = f"{MERGE}p:{pair.kept.person_id}:{pair.merged.person_id}"
            rows.append([(t("merge.look", n=n), data)])
    else:
        lines.append(t("merge.nothing_new"))
    if overview.recent:
        lines += ["", t("merge.recent")]
        for done in overview.recent:
            lines.append(
                t(
                    "merge.recent_line",
                    n=done.merge_id,
                    merged=done.merged.full_name[:NAME_CHARS],
                    kept=done.kept.full_name[:NAME_CHARS],
                )
            )
            rows.append([(t("merge.undo", n=done.merge_id), f"{MERGE}u:{done.merge_id}")])
    await message_of(update).reply_text("\n".join(lines), reply_markup=_buttons(rows))


async def merge_pressed(update: Update, context: AsaContext) -> None:
    """A /merge button: look at a pair, merge it, keep it apart, or undo a merge."""
    query, data = query_of(update)
    action = data.removeprefix(MERGE)[:1]
    t = context.t
    try:
        if action == "x":
            await query.answer()
            await query.edit_message_text(t("merge.kept_apart"))
            return
        if action == "u":
            undo = trailing_ids(data, 1)
            if undo is None:
                await query.answer(t("error.stale_button"))
                return
            await walking.unmerge(
                context.db, actor=context.actor, merge_id=undo[0], now=context.clock.now()
            )
            await query.answer()
            await query.edit_message_text(t("merge.undone"))
            return
        ids = trailing_ids(data, 2)
        if ids is None or action not in ("p", "m"):
            await query.answer(t("error.stale_button"))
            return
        kept_id, merged_id = ids
        if action == "p":
            pair = await walking.merge_pair(
                context.db, actor=context.actor, kept_id=kept_id, merged_id=merged_id
            )
            await query.answer()
            rows = [
                [(t("merge.confirm_button"), f"{MERGE}m:{kept_id}:{merged_id}")],
                [(t("merge.apart_button"), f"{MERGE}x")],
            ]
            text = t("merge.confirm") + "\n\n" + _pair_text(context, pair)
            await context.bot.send_message(
                context.actor.telegram_id, text, reply_markup=_buttons(rows)
            )
            return
        merge_id = await walking.merge(
            context.db,
            actor=context.actor,
            kept_id=kept_id,
            merged_id=merged_id,
            now=context.clock.now(),
        )
    except DomainError as error:
        await query.answer(error_text(context, error)[:200], show_alert=True)
        return
    await query.answer()
    undo_button = _buttons([[(t("merge.undo", n=merge_id), f"{MERGE}u:{merge_id}")]])
    await query.edit_message_text(t("merge.done"), reply_markup=undo_button)


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {"walkin": walkin_command, "merge": merge_command}


def register(application: AsaApplication) -> None:
    """The /merge buttons (the walk-in flow's go through the flow engine)."""
    application.add_handler(
        CallbackQueryHandler(merge_pressed, pattern=rf"^{MERGE}(x|u:\d+|[pm]:\d+:\d+)$"),
        group=GROUP_MAIN,
    )
