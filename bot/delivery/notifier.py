"""The Notifier that writes outbox rows (the only one: see bot/services/notify.py), and how a
notice reads in each recipient's language when the dispatcher sends it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator, normalise_language, translator
from bot.i18n.dates import format_datetime, format_duration, format_time
from bot.services import outbox
from bot.services.announcements import REASON_PREFIX, REPORT_TEMPLATE
from bot.services.notify import Notice, Term, Value, When, decode, encode
from bot.services.outbox import INTERRUPTED
from storage.database import after_commit
from storage.models import (
    Announcement,
    AnnouncementKind,
    AnnouncementStatus,
    ChatState,
    Delivery,
    Person,
)


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
        await outbox.announce(session)
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


# -- reading a notice ------------------------------------------------------------------------


@dataclass(frozen=True)
class Addressee:
    """One copy of a notice: its delivery, and where it goes."""

    delivery_id: int
    person_id: int | None
    chat_id: int


async def languages(
    session: AsyncSession, addressees: list[Addressee], *, default: str
) -> dict[int, str]:
    """Each delivery's language: the person's, else what the chat chose (a config admin who
    never registered may have chosen with /lang), else the deployment's default."""
    person_ids = sorted({a.person_id for a in addressees if a.person_id is not None})
    chat_ids = sorted({a.chat_id for a in addressees if a.person_id is None})
    by_person: dict[int, str] = {}
    by_chat: dict[int, str] = {}
    if person_ids:
        rows = await session.exec(
            select(Person.id, Person.language).where(col(Person.id).in_(person_ids))
        )
        by_person = {pid or 0: lang for pid, lang in rows.all()}
    if chat_ids:
        chosen = await session.exec(
            select(ChatState.telegram_id, ChatState.language).where(
                col(ChatState.telegram_id).in_(chat_ids), col(ChatState.language).is_not(None)
            )
        )
        by_chat = {chat: lang or default for chat, lang in chosen.all()}
    return {
        a.delivery_id: normalise_language(
            by_person.get(a.person_id) if a.person_id is not None else by_chat.get(a.chat_id),
            default,
        )
        for a in addressees
    }


Composer = Callable[[Translator, Mapping[str, Value]], str]


def render_notice(
    announcement: Announcement, *, lang: str, tz: ZoneInfo
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A notice's text and buttons in one recipient's language."""
    t = translator(lang)
    params = announcement.params or {}
    raw_values = params.get("values", {})
    values = decode(raw_values if isinstance(raw_values, dict) else {})
    template = announcement.template or ""
    compose = COMPOSERS.get(template)
    if compose is not None:
        text = compose(t, values)
    else:
        text = t(template, **{k: _shown(v, lang, tz) for k, v in values.items()})
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


# -- the author's report ---------------------------------------------------------------------


def _count(values: Mapping[str, Value], name: str) -> int:
    """A whole number from the values (0 if absent)."""
    value = values.get(name)
    return int(value) if isinstance(value, int | float) else 0


def reason_label(reason: str, t: Translator) -> str:
    """A failure reason in words: the known kinds translated, the detail kept for support."""
    kind = reason.split(":", 1)[0]
    labels = {
        INTERRUPTED: t("broadcast.reason.interrupted"),
        "TimedOut": t("broadcast.reason.timeout"),
        "NetworkError": t("broadcast.reason.network"),
        "BadRequest": t("broadcast.reason.rejected"),
    }
    label = labels.get(kind)
    if label is None:
        return reason
    return label if reason == kind else f"{label} ({reason})"


def compose_report(t: Translator, values: Mapping[str, Value]) -> str:
    """The author's report on a broadcast (a notice whose values are the figures)."""
    lines = [
        t("broadcast.report.title", id=_count(values, "id")),
        t("broadcast.report.delivered", count=_count(values, "delivered")),
        t("broadcast.report.blocked", count=_count(values, "blocked")),
        t("broadcast.report.failed", count=_count(values, "failed")),
    ]
    lines.extend(
        t("broadcast.report.reason", reason=reason_label(name[len(REASON_PREFIX) :], t), count=n)
        for name, n in sorted(values.items())
        if name.startswith(REASON_PREFIX)
    )
    twice = _count(values, "twice")
    if twice:
        lines.append(t("broadcast.report.twice", count=twice))
    seconds = values.get("seconds")
    duration = float(seconds) if isinstance(seconds, int | float) else 0.0
    lines.append(t("broadcast.report.duration", duration=format_duration(duration, lang=t.lang)))
    return "\n".join(lines)


# Notices whose text is more than one template: composed from their values.
COMPOSERS: dict[str, Composer] = {REPORT_TEMPLATE: compose_report}
