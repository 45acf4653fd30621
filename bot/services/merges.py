"""Two records, one person: merging them, undoing that, and finding records that may be one.

A walk-in (a record staff entered, without Telegram) is merged into the record that stays: its
check-ins and event sign-ups move there, and `merged_into_id` marks it as counting no more.
Where both records had one for the same event, the earlier is kept and the other is stored in
the merge's detail, so that undoing restores both records exactly. Only a record without
Telegram is ever merged away, so a Telegram account always keeps its own record.

Proof of sameness is either the person's own phone number shared through Telegram's contact
button (`link_shared_phone`, at registration or in /profile), or staff confirming it
(`/merge`, or "use this person" in /walkin). A typed number proves nothing: such records are
only offered to staff (`candidates`). Every merge and undo is audited. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit, people
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError, NotFound
from storage.models import CheckIn, Person, PersonMerge, Registration, RegistrationStatus

CONTACT = "contact"  # the same phone, shared by its owner through the contact button
STAFF = "staff"  # staff confirmed it
MAX_CANDIDATES = 10
RECENT_MERGES = 5


class MergeRefused(DomainError):
    """These records cannot be merged (or the merge undone); `reason` says why."""

    key = "merge.refused"


@dataclass(frozen=True)
class PersonCard:
    """One record, as staff deciding a merge see it."""

    person_id: int
    full_name: str
    phone: str | None
    district_code: str | None
    has_telegram: bool
    check_ins: int


@dataclass(frozen=True)
class Candidate:
    """Two records that may be one person: `kept` stays, `merged` would be merged into it."""

    kept: PersonCard
    merged: PersonCard
    same_phone: bool


@dataclass(frozen=True)
class MergeDone:
    """A merge as staff see it afterwards."""

    merge_id: int
    kept: PersonCard
    merged: PersonCard
    at: datetime
    reason: str


# ---------------------------------------------------------------------------------------------
# Merging


Rows = type[CheckIn] | type[Registration]
# Columns of moved rows stored as ISO text in a merge's detail.
_MOMENTS = ("checked_in_at", "checked_out_at", "created_at", "updated_at")


def _check_in_rank(row: Any) -> tuple[Any, ...]:
    """Of two check-ins to one event, the earlier is kept."""
    return (row.checked_in_at,)


def _registration_rank(row: Any) -> tuple[Any, ...]:
    """Of two sign-ups for one event, an active one is kept, then the earlier."""
    return row.status == RegistrationStatus.CANCELLED, row.created_at


async def _live_person(session: AsyncSession, person_id: int) -> Person:
    """A record that counts: NotFound if there is none, MergeRefused if it was merged away."""
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("person")
    if person.merged_into_id is not None:
        raise MergeRefused(reason="merged")
    return person


async def _move(
    session: AsyncSession,
    table: Rows,
    *,
    kept_id: int,
    merged_id: int,
    rank: Callable[[Any], tuple[Any, ...]],
) -> dict[str, list[Any]]:
    """Move the merged record's rows of one table; where both records have one for the same
    event, the one `rank` puts first stays and the other is dropped (and kept in the detail)."""
    rows: Sequence[Any] = (
        await session.exec(
            select(table)
            .where(col(table.person_id).in_([kept_id, merged_id]))
            # Rows an earlier merge in this transaction moved: as the database has them now.
            .execution_options(populate_existing=True)
        )
    ).all()
    kept_rows = {row.event_id: row for row in rows if row.person_id == kept_id}
    moved: list[int] = []
    dropped: list[dict[str, Any]] = []
    for row in (row for row in rows if row.person_id == merged_id):
        other = kept_rows.get(row.event_id)
        drop = None if other is None else other if rank(row) < rank(other) else row
        if drop is not None:
            dropped.append(drop.model_dump(mode="json"))
            await session.exec(delete(table).where(col(table.id) == drop.id))
        if drop is not row:
            await session.exec(
                update(table).where(col(table.id) == row.id).values(person_id=kept_id)
            )
            moved.append(row.id or 0)
    return {"moved": moved, "dropped": dropped}


async def merge(
    *,
    session: AsyncSession,
    kept_id: int,
    merged_id: int,
    reason: str,
    by_id: int | None,
    now: datetime,
) -> PersonMerge:
    """Merge one record into another (see the module docstring); audited."""
    if kept_id == merged_id:
        raise MergeRefused(reason="same")
    kept = await _live_person(session, kept_id)
    merged = await _live_person(session, merged_id)
    if merged.telegram_id is not None:
        raise MergeRefused(reason="telegram")
    check_ins = await _move(
        session, CheckIn, kept_id=kept_id, merged_id=merged_id, rank=_check_in_rank
    )
    registrations = await _move(
        session, Registration, kept_id=kept_id, merged_id=merged_id, rank=_registration_rank
    )
    merged.merged_into_id = kept.id
    session.add(merged)
    record = PersonMerge(
        kept_id=kept_id,
        merged_id=merged_id,
        at=now,
        by_id=by_id,
        reason=reason,
        detail={"check_ins": check_ins, "registrations": registrations},
    )
    session.add(record)
    await session.flush()
    audit.record(
        session=session,
        actor_id=by_id,
        action=AuditAction.PERSON_MERGE,
        at=now,
        target_type="person",
        target_id=merged_id,
        detail={
            "kept_id": kept_id,
            "merge_id": record.id,
            "reason": reason,
            "check_ins_moved": len(check_ins["moved"]),
            "check_ins_dropped": len(check_ins["dropped"]),
        },
    )
    return record


async def unmerge(
    *, session: AsyncSession, merge_id: int, by_id: int | None, now: datetime
) -> PersonMerge:
    """Undo a merge: both records as they were, each with its own check-ins; audited."""
    record = await session.get(PersonMerge, merge_id)
    if record is None:
        raise NotFound("merge")
    if record.undone_at is not None:
        raise MergeRefused(reason="undone")
    kept = await session.get(Person, record.kept_id)
    merged = await session.get(Person, record.merged_id)
    if kept is None or merged is None or kept.erased_at or merged.erased_at:
        raise MergeRefused(reason="erased")
    if kept.merged_into_id is not None:
        # Its rows have moved on again: that later merge must be undone first.
        raise MergeRefused(reason="kept_merged")
    for table, rows in ((CheckIn, "check_ins"), (Registration, "registrations")):
        part = record.detail.get(rows, {})
        moved = [int(i) for i in part.get("moved", [])]
        if moved:
            await session.exec(
                update(table)
                .where(col(table.id).in_(moved), col(table.person_id) == record.kept_id)
                .values(person_id=record.merged_id)
            )
        await _restore(session, table, part.get("dropped", []))
    merged.merged_into_id = None
    record.undone_at, record.undone_by_id = now, by_id
    session.add_all([merged, record])
    audit.record(
        session=session,
        actor_id=by_id,
        action=AuditAction.PERSON_UNMERGE,
        at=now,
        target_type="person",
        target_id=record.merged_id,
        detail={"kept_id": record.kept_id, "merge_id": record.id},
    )
    return record


async def _restore(session: AsyncSession, table: Rows, rows: Sequence[Any]) -> None:
    """Put dropped rows back where nothing has taken their place since."""
    for raw in rows:
        values = dict(raw)
        taken = await session.exec(
            select(func.count())
            .select_from(table)
            .where(
                (col(table.id) == values["id"])
                | (
                    (col(table.event_id) == values["event_id"])
                    & (col(table.person_id) == values["person_id"])
                )
            )
        )
        if taken.one() > 0:
            continue
        for name in _MOMENTS:
            if isinstance(values.get(name), str):
                values[name] = datetime.fromisoformat(values[name])
        await session.exec(insert(table).values(**values))


async def link_shared_phone(
    *, session: AsyncSession, person: Person, now: datetime
) -> list[PersonMerge]:
    """The person shared their own number: walk-in records with it are theirs; merged."""
    if person.id is None or not person.phone:
        return []
    statement = (
        select(Person)
        .where(
            *people.counted(),
            col(Person.telegram_id).is_(None),
            col(Person.phone) == person.phone,
            col(Person.id) != person.id,
        )
        .order_by(col(Person.id))
    )
    return [
        await merge(
            session=session,
            kept_id=person.id,
            merged_id=walkin.id or 0,
            reason=CONTACT,
            by_id=person.id,
            now=now,
        )
        for walkin in (await session.exec(statement)).all()
    ]


# ---------------------------------------------------------------------------------------------
# Staff: finding, merging and undoing


async def card(session: AsyncSession, person: Person) -> PersonCard:
    """A record as staff see it."""
    count = await session.exec(
        select(func.count()).select_from(CheckIn).where(col(CheckIn.person_id) == person.id)
    )
    return PersonCard(
        person_id=person.id or 0,
        full_name=person.full_name or "",
        phone=person.phone,
        district_code=person.district_code,
        has_telegram=person.telegram_id is not None,
        check_ins=int(count.one()),
    )


def kept_and_merged(first: Person, second: Person) -> tuple[Person, Person] | None:
    """Which of two records stays: the one with Telegram, else the older; None when both
    have Telegram (two accounts are never merged)."""
    if first.telegram_id is not None and second.telegram_id is not None:
        return None
    if second.telegram_id is not None or (
        first.telegram_id is None and (second.id or 0) < (first.id or 0)
    ):
        return second, first
    return first, second


async def candidates(
    *, session: AsyncSession, access: Access, phone: str | None = None
) -> list[Candidate]:
    """Pairs of records that may be one person, at least one of them without Telegram."""
    access.require(Capability.REGISTER_WALKINS)
    walkin, other = aliased(Person), aliased(Person)
    same_phone = col(other.phone) == col(walkin.phone)
    same_name = (col(other.district_code) == col(walkin.district_code)) & (
        func.lower(col(other.full_name)) == func.lower(col(walkin.full_name))
    )
    statement = (
        select(walkin, other)
        .join(other, col(other.id) != col(walkin.id))
        .where(
            col(walkin.telegram_id).is_(None),
            col(walkin.erased_at).is_(None),
            col(walkin.merged_into_id).is_(None),
            col(other.erased_at).is_(None),
            col(other.merged_into_id).is_(None),
            same_phone | same_name,
        )
        .order_by(col(walkin.id), col(other.id))
        .limit(4 * MAX_CANDIDATES)
    )
    if phone is not None:
        statement = statement.where(col(walkin.phone) == phone)
    found: list[Candidate] = []
    seen: set[tuple[int, int]] = set()
    for first, second in (await session.exec(statement)).all():
        pair = kept_and_merged(first, second)
        if pair is None:
            continue
        kept, merged = pair
        key = (kept.id or 0, merged.id or 0)
        if key in seen:
            continue
        seen.add(key)
        found.append(
            Candidate(
                kept=await card(session, kept),
                merged=await card(session, merged),
                same_phone=kept.phone is not None and kept.phone == merged.phone,
            )
        )
        if len(found) == MAX_CANDIDATES:
            break
    return found


async def pair(*, session: AsyncSession, access: Access, kept_id: int, merged_id: int) -> Candidate:
    """Two records, as staff see them before confirming a merge."""
    access.require(Capability.REGISTER_WALKINS)
    kept = await _live_person(session, kept_id)
    merged = await _live_person(session, merged_id)
    if kept_and_merged(kept, merged) != (kept, merged):
        raise MergeRefused(reason="telegram")
    return Candidate(
        kept=await card(session, kept),
        merged=await card(session, merged),
        same_phone=kept.phone is not None and kept.phone == merged.phone,
    )


async def merge_by_staff(
    *, session: AsyncSession, access: Access, kept_id: int, merged_id: int, now: datetime
) -> PersonMerge:
    """Staff confirmed two records are one person."""
    access.require(Capability.REGISTER_WALKINS)
    return await merge(
        session=session,
        kept_id=kept_id,
        merged_id=merged_id,
        reason=STAFF,
        by_id=access.person_id,
        now=now,
    )


async def unmerge_by_staff(
    *, session: AsyncSession, access: Access, merge_id: int, now: datetime
) -> PersonMerge:
    """Staff undo a merge (their own, another's, or one made by a shared contact)."""
    access.require(Capability.REGISTER_WALKINS)
    return await unmerge(session=session, merge_id=merge_id, by_id=access.person_id, now=now)


async def recent(*, session: AsyncSession, access: Access) -> list[MergeDone]:
    """The latest merges that still stand, newest first."""
    access.require(Capability.REGISTER_WALKINS)
    statement = (
        select(PersonMerge)
        .where(col(PersonMerge.undone_at).is_(None))
        .order_by(col(PersonMerge.at).desc(), col(PersonMerge.id).desc())
        .limit(RECENT_MERGES)
    )
    done: list[MergeDone] = []
    for record in (await session.exec(statement)).all():
        kept = await session.get(Person, record.kept_id)
        merged = await session.get(Person, record.merged_id)
        if kept is None or merged is None or kept.erased_at or merged.erased_at:
            continue
        done.append(
            MergeDone(
                merge_id=record.id or 0,
                kept=await card(session, kept),
                merged=await card(session, merged),
                at=record.at,
                reason=record.reason,
            )
        )
    return done
