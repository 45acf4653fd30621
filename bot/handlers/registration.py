"""Registration and /profile: the two flows in which people give their own details.

Registration: the language, the privacy notice (PDPA) and consent, then who you are, name,
phone (Telegram's contact button or typed), district and volunteer role (the steps /walkin
shares, bot/handlers/person_steps.py), then a summary to confirm or fix. Nothing reaches the
person table before the confirmation. A QR code scanned (`/start ci-<token>`) or a code typed
(`/checkin CODE`) before registering waits in the draft, and the person is checked in by the
confirmation itself, in its transaction: registered and checked in, or neither. /profile
shows the record, with the same steps to change any field.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from telegram import Update

from bot.context import AsaApplication, AsaContext
from bot.flows import Flow, Run, open_run
from bot.handlers.checkin_texts import error_text, success_text
from bot.handlers.dispatch import Callback
from bot.handlers.menus import refresh_menu
from bot.handlers.person_steps import SELF, PersonSteps, edit_rows, summary_lines
from bot.handlers.updates import message_of, query_of, user_of
from bot.i18n import LANGUAGES, translator
from bot.services.checkins import CheckInResult
from bot.services.errors import DomainError, NotRegistered
from bot.services.registration import InvalidFields, PersonDraft
from bot.usecases import registration as registering
from bot.usecases.checkin import Arrival
from bot.usecases.people import set_language

# Longer than any code; a longer text is not kept.
PENDING_CODE_MAX_CHARS = 40
DAYS_PER_YEAR = 365
CONSENT = "consent"

# ---------------------------------------------------------------------------------------------
# Registration


@dataclass
class RegistrationDraft:
    """A registration in progress: the answers, the consent, and a check-in waiting for it."""

    person: PersonDraft = field(default_factory=PersonDraft)
    consent_at: datetime | None = None
    consent_version: str | None = None
    token: str | None = None  # a QR code scanned before registering
    code: str | None = None  # a check-in code typed before registering


REGISTRATION = Flow(
    "registration",
    RegistrationDraft,
    title_key="flow.registration",
    # A QR scan or a typed code in the middle keeps the registration and waits in it.
    commands=frozenset({"start", "checkin"}),
)


async def _show_summary(update: Update, context: AsaContext, run: Run[RegistrationDraft]) -> None:
    """Every answer, with confirm and a button to change each one."""
    t = context.t
    lines = summary_lines(t, run.draft.person, context.runtime.geography)
    rows = [[(t("reg.summary.confirm"), "ok")], *edit_rows(t, run.draft.person, SELF.order)]
    text = t("reg.summary.title") + "\n\n" + "\n".join(lines)
    await run.ask(context, text, step="summary", buttons=rows)


STEPS = PersonSteps(REGISTRATION, SELF, person=lambda draft: draft.person, done=_show_summary)


async def begin(
    update: Update, context: AsaContext, *, token: str | None = None, code: str | None = None
) -> None:
    """Start registering (or, in the middle of it, keep a newly scanned token or code)."""
    waiting = token is not None or code is not None
    opened = open_run(context)
    if opened is not None and opened[0] is REGISTRATION:
        run: Run[RegistrationDraft] = opened[1]
        if waiting:
            run.draft.token, run.draft.code = token, code
            await message_of(update).reply_text(context.t("reg.checkin_after_registration"))
        await REGISTRATION.reask(update, context, run)
        return
    if waiting:
        await message_of(update).reply_text(context.t("reg.checkin_after_registration"))
    run = REGISTRATION.start(RegistrationDraft(token=token, code=code), "language")
    if context.actor.language_chosen:
        await _ask_consent(context, run)
    else:
        await _ask_language(context, run)


async def newcomer_checkin(update: Update, context: AsaContext, code: str) -> None:
    """/checkin from someone not registered yet: registration first, then the check-in."""
    if code:
        await begin(update, context, code=code[:PENDING_CODE_MAX_CHARS])
        return
    # Someone who wants to check in is helped to register at once; the code comes after.
    await message_of(update).reply_text(context.t("reg.register_then_checkin"))
    await begin(update, context)


async def _ask_language(context: AsaContext, run: Run[RegistrationDraft]) -> None:
    """The greeting, in the default language, with each language named in itself."""
    rows = [[(translator(lang)("lang.name"), lang) for lang in LANGUAGES]]
    await run.ask(context, context.t("start.greeting"), step="language", buttons=rows)


@REGISTRATION.on_button("language")
async def language_chosen(
    update: Update, context: AsaContext, run: Run[RegistrationDraft], payload: str
) -> None:
    """Remember the language, confirm in it, and show the privacy notice."""
    query, _ = query_of(update)
    if payload not in LANGUAGES:
        await query.answer(context.t("error.stale_button"))
        return
    await set_language(context.db, telegram_id=context.actor.telegram_id, lang=payload)
    context.actor = dataclasses.replace(context.actor, lang=payload, language_chosen=True)
    await query.answer()
    await query.edit_message_text(context.t("start.language_set"))
    await _ask_consent(context, run)


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


async def _ask_consent(context: AsaContext, run: Run[RegistrationDraft]) -> None:
    """The notice, with agree and decline."""
    t = context.t
    rows = [[(t("privacy.agree"), "yes")], [(t("privacy.decline"), "no")]]
    await run.ask(context, privacy_notice(context), step=CONSENT, buttons=rows)


@REGISTRATION.on_button(CONSENT)
async def consent_answered(
    update: Update, context: AsaContext, run: Run[RegistrationDraft], payload: str
) -> None:
    """Agree: noted in the draft, on to the questions. Decline: nothing is kept at all."""
    query, _ = query_of(update)
    if payload == "no":
        # Worded before the chat state (and with it the language) is dropped.
        declined = context.t("privacy.declined")
        await registering.forget_chat(context.db, telegram_id=context.actor.telegram_id)
        await run.end(context)
        await query.answer()
        await query.edit_message_text(declined)
        return
    if payload != "yes":
        await query.answer(context.t("error.stale_button"))
        return
    run.draft.consent_at = context.clock.now()
    run.draft.consent_version = context.settings.bot.privacy_notice_version
    await query.answer()
    await query.edit_message_reply_markup(None)
    await context.bot.send_message(context.actor.telegram_id, context.t("privacy.agreed"))
    await STEPS.ask_next(update, context, run)


@STEPS.on_summary
async def summary_pressed(
    update: Update, context: AsaContext, run: Run[RegistrationDraft], payload: str
) -> None:
    """Confirm (or change one answer)."""
    query, _ = query_of(update)
    if payload != "ok":
        await query.answer(context.t("error.stale_button"))
        return
    actor = context.actor
    try:
        # The person and the end of this flow in one transaction (see Run.ending).
        async with run.ending(context):
            done = await registering.register(
                context.db,
                telegram_id=actor.telegram_id,
                telegram_username=user_of(update).username,
                language=context.lang,
                draft=run.draft.person,
                consent_at=run.draft.consent_at,
                consent_version=run.draft.consent_version,
                geo=context.runtime.geography,
                now=context.clock.now(),
                arrival=Arrival(token=run.draft.token, code=run.draft.code),
                limiter=context.runtime.wrong_codes,
            )
    except InvalidFields as error:
        await query.answer()
        await _ask_again(context, run, str(error.values.get("field")))
        return
    # The actor was resolved before the person existed; the rest of this update needs them.
    context.actor = dataclasses.replace(
        context.actor,
        person_id=done.person_id,
        name=done.full_name,
        access=dataclasses.replace(actor.access, person_id=done.person_id),
    )
    await query.answer()
    await query.edit_message_reply_markup(None)
    await refresh_menu(
        context.application,
        chat_id=actor.telegram_id,
        access=context.actor.access,
        registered=True,
        lang=context.lang,
    )
    welcome = context.t("reg.welcome")
    if done.linked:
        welcome += "\n\n" + context.t("reg.linked")
    await context.bot.send_message(actor.telegram_id, welcome)
    if done.arrival is not None:
        await context.bot.send_message(actor.telegram_id, arrival_text(context, done.arrival))


def arrival_text(context: AsaContext, arrival: CheckInResult | DomainError) -> str:
    """How the check-in a newcomer came with went."""
    if isinstance(arrival, DomainError):
        return error_text(context, arrival)
    return success_text(context, arrival)


async def _ask_again(context: AsaContext, run: Run[RegistrationDraft], field_name: str) -> None:
    """A draft that is no longer valid (damaged, or the rules changed): ask what is wrong."""
    if field_name == CONSENT:
        await _ask_consent(context, run)
        return
    await STEPS.redo(context, run, field_name, context.t("reg.error.incomplete"))


@REGISTRATION.reasker
async def ask_registration_again(
    update: Update, context: AsaContext, run: Run[RegistrationDraft]
) -> None:
    """The current question, once more."""
    if await STEPS.reask(context, run):
        return
    if run.step == "language":
        await _ask_language(context, run)
    elif run.step == CONSENT:
        await _ask_consent(context, run)
    else:
        await _show_summary(update, context, run)


# ---------------------------------------------------------------------------------------------
# /profile


@dataclass
class ProfileDraft:
    """The record being changed, and what it was (to tell whether anything changed)."""

    person: PersonDraft
    original: PersonDraft


PROFILE = Flow("profile", ProfileDraft, title_key="flow.profile")


def _changed(draft: ProfileDraft) -> bool:
    """Whether any answer differs from the stored record."""
    return draft.person != draft.original


async def _show_profile(update: Update, context: AsaContext, run: Run[ProfileDraft]) -> None:
    """The record, with save and discard once something changed, and the change buttons."""
    t = context.t
    if _changed(run.draft):
        top = [(t("reg.profile.save"), "save"), (t("reg.profile.discard"), "discard")]
    else:
        top = [(t("reg.profile.done"), "done")]
    rows = [top, *edit_rows(t, run.draft.person, SELF.order)]
    lines = summary_lines(t, run.draft.person, context.runtime.geography)
    text = t("reg.profile.title") + "\n\n" + "\n".join(lines)
    await run.ask(context, text, step="summary", buttons=rows)


PROFILE_STEPS = PersonSteps(PROFILE, SELF, person=lambda draft: draft.person, done=_show_profile)


async def profile_command(update: Update, context: AsaContext) -> None:
    """Show a registered person's record with buttons to change it."""
    try:
        person = await registering.profile_of(context.db, person_id=context.actor.person_id or 0)
    except NotRegistered as error:
        await message_of(update).reply_text(context.t(error.key))
        return
    run = PROFILE.start(ProfileDraft(person=person, original=copy.deepcopy(person)), "summary")
    await _show_profile(update, context, run)


@PROFILE_STEPS.on_summary
async def profile_pressed(
    update: Update, context: AsaContext, run: Run[ProfileDraft], payload: str
) -> None:
    """Save, discard or done (or change one answer)."""
    query, _ = query_of(update)
    changed = _changed(run.draft)
    if payload == "save" and changed:
        try:
            linked = await registering.save_profile(
                context.db,
                person_id=context.actor.person_id or 0,
                draft=run.draft.person,
                geo=context.runtime.geography,
                now=context.clock.now(),
            )
        except InvalidFields as error:
            await query.answer()
            field_name = str(error.values.get("field"))
            await PROFILE_STEPS.redo(context, run, field_name, context.t("reg.error.incomplete"))
            return
        text = context.t("reg.profile.saved")
        if linked:
            text += "\n\n" + context.t("reg.linked")
    elif (payload == "discard" and changed) or (payload == "done" and not changed):
        text = context.t("reg.profile.discarded" if changed else "reg.profile.closed")
    else:
        await query.answer(context.t("error.stale_button"))
        return
    await PROFILE_STEPS.finish(update, context, run, text)


@PROFILE.reasker
async def ask_profile_again(update: Update, context: AsaContext, run: Run[ProfileDraft]) -> None:
    """The current question, once more."""
    if not await PROFILE_STEPS.reask(context, run):
        await _show_profile(update, context, run)


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {"profile": profile_command}


def register(application: AsaApplication) -> None:
    """Nothing beyond the command: the flows' buttons go through the flow engine."""
