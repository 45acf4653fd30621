"""/start, /mydata and /forget: a person's first and last words with the bot, and retention.

/start welcomes back a registered person (checking them in when it carries an event's QR
payload, `ci-<token>`) and takes a newcomer into registration (bot/handlers/registration.py),
keeping the token so they are checked in once registered. /mydata sends everything stored
about the person; /forget erases it after a confirmation, drops their chat state and gives
them back the newcomer's command menu. A daily job erases people inactive for longer than the
retention period and drops drafts nobody finished.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Update

from bot.context import AsaApplication, AsaContext
from bot.flows import Flow, Run
from bot.handlers import checkin, registration
from bot.handlers.common import split_message
from bot.handlers.dispatch import Callback
from bot.handlers.menus import refresh_menu
from bot.handlers.person_steps import summary_lines
from bot.handlers.updates import args_of, message_of, query_of
from bot.i18n import dates, translator
from bot.services.errors import NotRegistered
from bot.services.registration import PersonDraft
from bot.usecases import registration as registering

# Telegram's deep links carry at most 64 characters of A-Za-z0-9_-; anything else was typed.
CHECKIN_PAYLOAD = re.compile(r"ci-([A-Za-z0-9_-]{1,61})")
MYDATA_FILENAME = "asa-mydata.json"
PURGE_JOB = "asa:privacy:purge"
PURGE_INTERVAL = timedelta(days=1)
# Not at once: a start-up should not begin with a sweep of the whole table.
PURGE_FIRST_DELAY = timedelta(hours=1)


# ---------------------------------------------------------------------------------------------
# /start


def _checkin_token(context: AsaContext) -> str | None:
    """The event token of a `/start ci-<token>` deep link (None for anything else)."""
    args = args_of(context)
    match = CHECKIN_PAYLOAD.fullmatch(args[0]) if args else None
    return match[1] if match else None


async def start_command(update: Update, context: AsaContext) -> None:
    """Check in or welcome back a registered person; take a newcomer into registration."""
    token = _checkin_token(context)
    actor = context.actor
    if not actor.registered:
        await registration.begin(update, context, token=token)
        return
    if token is not None:
        await checkin.check_in_with_token(update, context, token)
        return
    await message_of(update).reply_text(context.t("start.welcome_back", name=actor.name or ""))


# ---------------------------------------------------------------------------------------------
# /mydata


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
    none = context.t("person.summary.none")

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
    """The profile (as the summary shows it), the account and the consent."""
    profile, consent = data["profile"], data["consent"]
    draft = PersonDraft(
        participant_type=profile["participant_type"],
        agency=profile["agency"],
        full_name=profile["full_name"],
        phone=profile["phone"],
        district_code=profile["district_code"],
        volunteer_role=profile["volunteer_role"],
    )
    none = context.t("person.summary.none")
    account = context.t(
        "mydata.telegram", id=profile["telegram_id"], username=profile["telegram_username"] or none
    )
    return [
        *summary_lines(context.t, draft, context.runtime.geography),
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


async def mydata_command(update: Update, context: AsaContext) -> None:
    """Send everything stored about the person: a readable message and a JSON file."""
    message = message_of(update)
    try:
        data = await registering.my_data(context.db, person_id=context.actor.person_id or 0)
    except NotRegistered:
        await message.reply_text(context.t("mydata.nothing"))
        return
    for part in split_message(readable_export(context, data)):
        await message.reply_text(part)
    document = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await message.reply_document(
        document, filename=MYDATA_FILENAME, caption=context.t("mydata.file_caption")
    )


# ---------------------------------------------------------------------------------------------
# /forget


@dataclass
class ForgetQuestion:
    """Nothing to remember: the question only waits for yes or no."""


FORGET = Flow("forget", ForgetQuestion, title_key="flow.forget", prompt=True, hint_key=None)


async def _ask_forget(context: AsaContext, run: Run[ForgetQuestion]) -> None:
    """What erasing means, with yes and no."""
    t = context.t
    rows = [[(t("forget.yes"), "yes")], [(t("forget.no"), "no")]]
    await run.ask(context, t("forget.confirm"), step="confirm", buttons=rows)


async def forget_command(update: Update, context: AsaContext) -> None:
    """Ask for confirmation before erasing."""
    await _ask_forget(context, FORGET.start(ForgetQuestion(), "confirm"))


@FORGET.on_button("confirm")
async def forget_answered(
    update: Update, context: AsaContext, run: Run[ForgetQuestion], payload: str
) -> None:
    """Erase on yes; keep everything on no."""
    query, _ = query_of(update)
    if payload not in ("yes", "no"):
        await query.answer(context.t("error.stale_button"))
        return
    if payload == "no":
        await run.end(context)
        await query.answer()
        await query.edit_message_text(context.t("forget.kept"))
        return
    # Worded before the erasure: afterwards the person's language is forgotten too.
    done = context.t("forget.done")
    actor = context.actor
    forgotten = await registering.forget(
        context.db,
        telegram_id=actor.telegram_id,
        config_admins=context.settings.bot.admins,
        now=context.clock.now(),
    )
    await run.end(context)
    context.app.last_seen.forget(actor.telegram_id)
    context.actor = dataclasses.replace(actor, person_id=None, name=None, access=forgotten.access)
    await query.answer()
    await query.edit_message_text(done)
    await refresh_menu(
        context.application,
        chat_id=actor.telegram_id,
        access=forgotten.access,
        registered=False,
        lang=context.lang,
    )


@FORGET.reasker
async def ask_forget_again(update: Update, context: AsaContext, run: Run[ForgetQuestion]) -> None:
    """The confirmation, once more."""
    await _ask_forget(context, run)


# ---------------------------------------------------------------------------------------------
# Retention


async def purge_job(context: AsaContext) -> None:
    """Daily: erase everyone inactive for longer than the retention period, as /forget does,
    and drop the drafts of flows nobody finished."""
    if not context.runtime.leads:
        return  # the leading replica sweeps, once for the whole bot
    settings = context.settings
    longest = max(settings.bot.flow_timeout_minutes, settings.bot.prompt_timeout_minutes)
    purged = await registering.purge(
        context.db,
        now=context.clock.now(),
        retention_days=settings.bot.data_retention_days,
        flow_timeout=timedelta(minutes=longest),
        config_admins=settings.bot.admins,
    )
    for telegram_id, access in purged.erased:
        context.app.last_seen.forget(telegram_id)
        await refresh_menu(
            context.application,
            chat_id=telegram_id,
            access=access,
            registered=False,
            lang=settings.bot.default_language,
        )


async def _start_retention(application: AsaApplication) -> None:
    """At start-up: the daily retention sweep (a stable id, so a restart never doubles it)."""
    queue = application.job_queue
    if queue is None:
        return
    queue.run_repeating(
        purge_job,
        interval=PURGE_INTERVAL,
        first=PURGE_FIRST_DELAY,
        name=PURGE_JOB,
        job_kwargs={"id": PURGE_JOB, "replace_existing": True, "coalesce": True},
    )


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {
    "start": start_command,
    "mydata": mydata_command,
    "forget": forget_command,
}


def register(application: AsaApplication) -> None:
    """The daily retention sweep."""
    application.runtime.on_start.append(_start_retention)
