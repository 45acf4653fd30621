"""What an event reminder says, in each registrant's language, with its answer buttons.

The rules (when a reminder is due, whether it still makes sense, who gets it, what an answer
changes) are in bot/services/reminders.py; this module only renders, at send time.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.delivery.dispatcher import Content
from bot.i18n import translator
from bot.i18n.dates import format_duration, format_time_range
from bot.runtime import Runtime
from bot.services.reminders import RSVP_KINDS, ReminderKind
from storage.models import Announcement, Event, Person

__all__ = ["RSVP_PREFIX", "ReminderKind", "confirm_keyboard", "render", "rsvp_keyboard"]

# "rsvp:y:<event>" I'll be there, "rsvp:n:<event>" I can't come (asks first),
# "rsvp:x:<event>" yes, give my place up, "rsvp:b:<event>" no, keep it.
RSVP_PREFIX = "rsvp:"


def _keyboard(event_id: int, lang: str, rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Rows of (label key, action) as buttons about one event."""
    t = translator(lang)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(key), callback_data=f"{RSVP_PREFIX}{action}:{event_id}")
                for key, action in row
            ]
            for row in rows
        ]
    )


def rsvp_keyboard(event_id: int, lang: str) -> InlineKeyboardMarkup:
    """The two answers a registrant can give."""
    return _keyboard(event_id, lang, [[("reminder.button.yes", "y"), ("reminder.button.no", "n")]])


def confirm_keyboard(event_id: int, lang: str) -> InlineKeyboardMarkup:
    """ "I can't come" asks first: give the place up, or keep it."""
    return _keyboard(
        event_id, lang, [[("reminder.button.withdraw", "x")], [("reminder.button.keep", "b")]]
    )


def reminder_text(kind: ReminderKind, event: Event, lang: str, runtime: Runtime) -> str:
    """A registrant's reminder, in their language."""
    t = translator(lang)
    tz = runtime.settings.tz
    lead = runtime.settings.reminders.hour_before_minutes * 60
    return t(
        f"reminder.{kind.value}",
        title=event.title,
        venue=event.venue,
        when=format_time_range(event.starts_at, event.ends_at, lang=lang, tz=tz),
        lead=format_duration(lead, lang=lang),
    )


async def render(
    session: AsyncSession, runtime: Runtime, announcement: Announcement, person_ids: list[int]
) -> dict[int, Content]:
    """Each recipient's copy of a reminder (the dispatcher's renderer for reminder kinds)."""
    if announcement.event_id is None or announcement.reminder_kind not in RSVP_KINDS:
        return {}
    event = await session.get(Event, announcement.event_id)
    if event is None:
        return {}
    kind = ReminderKind(announcement.reminder_kind)
    people = await session.exec(select(Person).where(col(Person.id).in_(person_ids)))
    return {
        person.id or 0: Content(
            text=reminder_text(kind, event, person.language, runtime),
            reply_markup=rsvp_keyboard(event.id or 0, person.language),
        )
        for person in people.all()
    }
