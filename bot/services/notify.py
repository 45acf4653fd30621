"""Notices: messages the bot sends on its own, never as a direct reply, always via the outbox.

An event cancelled, a place freed on the waiting list, a role granted, the list of people still
missing for a zone's coordinators, a broadcast's delivery report: each is a `Notice` (a
translation key and its values) handed to the `Notifier` inside the same transaction as the
change that causes it, so either both happen or neither. The only implementation
(bot/delivery/notifier.py) writes one announcement and one delivery row per recipient; the
outbox dispatcher sends them at Telegram's pace, retries and records the outcome, and renders
each copy in the recipient's own language.

Values are plain (str, int, float, None), or `When` (a moment, formatted as the recipient
reads dates), or `Term` (a translation key, translated in the recipient's language).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

WhenStyle = Literal["long", "short", "time"]


@dataclass(frozen=True)
class When:
    """A moment, shown in the recipient's language and the deployment's time zone."""

    at: datetime
    style: WhenStyle = "short"


@dataclass(frozen=True)
class Term:
    """A word from the translations (a role, a participant type), in the recipient's language."""

    key: str


Value = str | int | float | When | Term | None


@dataclass(frozen=True)
class Notice:
    """What to say: a translation key, its values, and optional buttons (label key, data)."""

    template: str
    values: Mapping[str, Value] = field(default_factory=dict)
    buttons: tuple[tuple[str, str], ...] = ()


class Notifier(Protocol):
    """Queues notices in the caller's transaction."""

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
        """Queue `notice` for these people (by record) and chats (people without a record,
        such as config admins); returns how many copies will be sent."""
        ...


# -- the JSON form stored with the announcement ----------------------------------------------

_WHEN = "__when__"
_TERM = "__term__"


def encode(values: Mapping[str, Value]) -> dict[str, object]:
    """Values as JSON (see `decode`)."""
    encoded: dict[str, object] = {}
    for name, value in values.items():
        if isinstance(value, When):
            encoded[name] = {_WHEN: value.at.isoformat(), "style": value.style}
        elif isinstance(value, Term):
            encoded[name] = {_TERM: value.key}
        else:
            encoded[name] = value
    return encoded


def decode(encoded: Mapping[str, object]) -> dict[str, Value]:
    """The values `encode` stored."""
    values: dict[str, Value] = {}
    for name, raw in encoded.items():
        if isinstance(raw, dict) and _WHEN in raw:
            style = raw.get("style", "short")
            values[name] = When(
                datetime.fromisoformat(str(raw[_WHEN])),
                style if style in ("long", "short", "time") else "short",
            )
        elif isinstance(raw, dict) and _TERM in raw:
            values[name] = Term(str(raw[_TERM]))
        elif raw is None or isinstance(raw, str | int | float):
            values[name] = raw
        else:
            values[name] = str(raw)
    return values
