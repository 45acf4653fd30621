"""The Notifier that writes outbox rows (the only one: see bot/services/notify.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import translator
from bot.i18n.dates import format_datetime, format_time
from bot.services.notify import Notice, Term, Value, When, decode, encode
from storage.database import after_commit
from storage.models import Announcement, AnnouncementKind, AnnouncementStatus, Delivery, Person


class OutboxNotifier:
    """Queues a notice as one announcement and one delivery per reachable recipient."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def notify(
        self,
        session: AsyncSession,
        notice: Notice,
        *,
        person_ids: Iterable[int] = (),
        chat_ids: Iterable[int] = (),
        author_id: int | None = None,
        event_id: int | None = None,
        now: datetime,
    ) -> int:
        """Queue the notice in the caller's transaction; the dispatcher is woken on commit."""
        people = await _reachable(session, set(person_ids))
        chats: dict[int, int | None] = {chat_id: person_id for person_id, chat_id in people}
        for chat_id in chat_ids:
            chats.setdefault(chat_id, None)
        if not chats:
            return 0
        announcement = Announcement(
            kind=AnnouncementKind.NOTICE,
            template=notice.template,
            params={"values": encode(notice.values), "buttons": [list(b) for b in notice.buttons]},
            author_id=author_id,
            event_id=event_id,
            status=AnnouncementStatus.SENDING,
            send_at=now,
            created_at=now,
            started_at=now,
            # A notice's author gets no delivery report: only broadcasts have one.
            report_sent_at=now,
        )
        session.add(announcement)
        await session.flush()
        session.add_all(
            Delivery(
                announcement_id=announcement.id or 0,
                person_id=person_id,
                chat_id=chat_id,
                next_attempt_at=now,
            )
            for chat_id, person_id in sorted(chats.items())
        )
        after_commit(session, self._wake)
        return len(chats)


async def _reachable(session: AsyncSession, person_ids: set[int]) -> list[tuple[int, int]]:
    """(person id, chat id) of those who can receive a message at all."""
    if not person_ids:
        return []
    rows = await session.exec(
        select(Person.id, Person.telegram_id).where(
            col(Person.id).in_(sorted(person_ids)),
            col(Person.erased_at).is_(None),
            col(Person.telegram_id).is_not(None),
            col(Person.unreachable_at).is_(None),
        )
    )
    return [(pid or 0, chat or 0) for pid, chat in rows.all()]


def render_notice(
    announcement: Announcement, *, lang: str, tz: ZoneInfo
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A notice's text and buttons in one recipient's language."""
    t = translator(lang)
    params = announcement.params or {}
    raw_values = params.get("values", {})
    values = decode(raw_values if isinstance(raw_values, dict) else {})
    text = t(announcement.template or "", **{k: _shown(v, lang, tz) for k, v in values.items()})
    buttons = [
        [InlineKeyboardButton(t(str(label)), callback_data=str(data))]
        for label, data in params.get("buttons", [])
    ]
    return text, InlineKeyboardMarkup(buttons) if buttons else None


def _shown(value: Value, lang: str, tz: ZoneInfo) -> str | int | float:
    """One value as the recipient reads it."""
    if isinstance(value, When):
        if value.style == "time":
            return format_time(value.at, lang=lang, tz=tz)
        return format_datetime(value.at, lang=lang, tz=tz, style=value.style)
    if isinstance(value, Term):
        return translator(lang)(value.key)
    return "" if value is None else value
