"""The sender of an update as one statement reads it: their record, chat state and roles.

Every update starts here, so it is the hottest read asa makes: one statement (the person, the
chat state and the granted roles, outer-joined to the sender's Telegram id) rather than one per
table, each of which costs a round trip on PostgreSQL and several thread hops on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, and_, bindparam, cast, select
from sqlmodel import col

from storage.driver import Statements
from storage.models import ChatState, Person, RoleGrant


@dataclass(frozen=True)
class SenderRecord:
    """What the start of an update needs of a registered (not erased) person."""

    person_id: int
    full_name: str
    language: str | None
    unreachable_at: datetime | None
    last_active_at: datetime


@dataclass(frozen=True)
class Sender:
    """A Telegram account as the database knows it (all None/empty for a stranger)."""

    telegram_id: int
    person: SenderRecord | None
    state: ChatState | None
    granted: frozenset[str]


_STATE_COLUMNS: tuple[Any, ...] = (
    col(ChatState.telegram_id).label("state_telegram_id"),
    col(ChatState.language).label("state_language"),
    col(ChatState.flow),
    col(ChatState.step),
    col(ChatState.nonce),
    col(ChatState.draft),
    col(ChatState.updated_at),
    col(ChatState.last_update_id),
)


def _sender_statement() -> Select[*tuple[Any, ...]]:
    """The statement `load` runs, built once: building it anew for every update cost more
    than running it."""
    sender = select(cast(bindparam("telegram_id"), BigInteger).label("telegram_id")).subquery()
    return (
        select(
            col(Person.id),
            col(Person.full_name),
            col(Person.language),
            col(Person.unreachable_at),
            col(Person.last_active_at),
            *_STATE_COLUMNS,
            col(RoleGrant.role),
        )
        .select_from(sender)
        .outerjoin(
            Person,
            and_(col(Person.telegram_id) == sender.c.telegram_id, col(Person.erased_at).is_(None)),
        )
        .outerjoin(ChatState, col(ChatState.telegram_id) == sender.c.telegram_id)
        .outerjoin(RoleGrant, col(RoleGrant.person_id) == col(Person.id))
    )


_SENDER = _sender_statement()


async def load(connection: Statements, *, telegram_id: int) -> Sender:
    """The sender behind `telegram_id`, in one statement (a row per granted role, at least
    one: the sender's id outer-joined to everything else), on plain `Statements`: this runs
    for every update, and an ORM session around it cost as much as the statement."""
    found = await connection.execute(_SENDER, {"telegram_id": telegram_id})
    rows: list[Any] = list(found.all())
    first = rows[0]
    return Sender(
        telegram_id=telegram_id,
        person=_record(first),
        state=_state(first),
        granted=frozenset(row.role for row in rows if row.role is not None),
    )


def _record(row: Any) -> SenderRecord | None:
    if row.id is None:
        return None
    return SenderRecord(
        person_id=row.id,
        full_name=row.full_name,
        language=row.language,
        unreachable_at=row.unreachable_at,
        last_active_at=row.last_active_at,
    )


def _state(row: Any) -> ChatState | None:
    """The chat state as a detached model (never added to a session: read only)."""
    if row.state_telegram_id is None:
        return None
    return ChatState(
        telegram_id=row.state_telegram_id,
        language=row.state_language,
        flow=row.flow,
        step=row.step,
        nonce=row.nonce,
        draft=row.draft if row.draft is not None else {},
        updated_at=row.updated_at,
        last_update_id=row.last_update_id,
    )
