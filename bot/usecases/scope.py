"""Resolving the sender of an update: one read at the start of every update."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import normalise_language
from bot.scope import Actor, FlowState
from bot.services import chat_state, people, senders
from bot.services.access import Access, access_of
from bot.usecases import transaction, unstamped_transaction
from storage.database import Database, before_commit
from storage.driver import Statements
from storage.models import ChatState


async def resolve_actor(
    db: Database,
    *,
    telegram_id: int,
    config_admins: tuple[int, ...],
    default_language: str,
    now: datetime,
    timeout_of: Callable[[str], timedelta],
    update_id: int | None = None,
) -> tuple[Actor, bool]:
    """The actor, and whether their last activity is stale (to be written behind).

    Read without a transaction (`Database.read`: the sender in one statement, their zones in a
    second only for a coordinator), since nothing here needs two reads to agree, and this runs
    for every update. A flow idle for longer than its timeout is dropped (the one write, rare),
    and the actor says which one. An update whose effects this person's data already holds
    (webhook mode: it is processed again after its replica died) comes back as an actor with
    `facts["applied"]`. Nothing here is stamped as the update's effect.
    """

    async def read(connection: Statements) -> tuple[senders.Sender, Access]:
        sender = await senders.load(connection, telegram_id=telegram_id)
        access = await access_of(
            connection=connection,
            person_id=sender.person.person_id if sender.person else None,
            granted=sender.granted,
            telegram_id=telegram_id,
            config_admins=config_admins,
        )
        return sender, access

    sender, access = await db.read(read)
    person, state = sender.person, sender.state
    flow, expired = _live_flow(state, now=now, timeout_of=timeout_of)
    if expired is not None and state is not None:
        await _forget_expired_flow(db, telegram_id=telegram_id, nonce=state.nonce, now=now)
    chosen = _chosen_language(person_language=person.language if person else None, state=state)
    actor = Actor(
        telegram_id=telegram_id,
        person_id=person.person_id if person is not None else None,
        name=person.full_name if person is not None else None,
        lang=normalise_language(chosen, default_language),
        language_chosen=chosen is not None,
        access=access,
        flow=flow,
        expired_flow=expired,
        facts={"applied": True} if _applied(state, update_id) else {},
    )
    stale = person is not None and (
        person.unreachable_at is not None or now - person.last_active_at >= people.TOUCH_INTERVAL
    )
    return actor, stale


def _applied(state: ChatState | None, update_id: int | None) -> bool:
    """Whether this person's data already holds the effects of update `update_id`."""
    return (
        update_id is not None
        and state is not None
        and state.last_update_id is not None
        and state.last_update_id >= update_id
    )


@unstamped_transaction
async def _forget_expired_flow(
    session: AsyncSession, *, telegram_id: int, nonce: str | None, now: datetime
) -> None:
    """Drop a timed-out flow and its draft (which may hold personal data), unless it has moved
    on since it was read."""
    await chat_state.end_flow(session, telegram_id=telegram_id, nonce=nonce, now=now)


def _chosen_language(*, person_language: str | None, state: ChatState | None) -> str | None:
    """What the person chose: on their record once registered, else on their chat state."""
    if state is not None and state.language:
        return state.language
    return person_language


def _live_flow(
    state: ChatState | None, *, now: datetime, timeout_of: Callable[[str], timedelta]
) -> tuple[FlowState | None, str | None]:
    """The open flow, or (None, its name) when it has timed out."""
    if state is None or not state.flow or not state.step or not state.nonce:
        return None, None
    if now - state.updated_at > timeout_of(state.flow):
        return None, state.flow
    flow = FlowState(
        name=state.flow,
        step=state.step,
        nonce=state.nonce,
        draft=dict(state.draft or {}),
        updated_at=state.updated_at,
    )
    return flow, None


@transaction
async def save_flow(
    session: AsyncSession,
    *,
    telegram_id: int,
    flow: str,
    step: str,
    nonce: str,
    draft: dict[str, object],
    now: datetime,
) -> None:
    """Write where a person is in a flow (creating their chat state if need be)."""
    state = await session.get(ChatState, telegram_id) or ChatState(telegram_id=telegram_id)
    state.flow, state.step, state.nonce = flow, step, nonce
    state.draft = dict(draft)
    state.updated_at = now
    session.add(state)


@transaction
async def end_flow(session: AsyncSession, *, telegram_id: int, now: datetime) -> None:
    """The person is in no flow any more; nothing of the draft is kept."""
    await chat_state.end_flow(session, telegram_id=telegram_id, now=now)


@transaction
async def touch_people(session: AsyncSession, *, telegram_ids: list[int], now: datetime) -> None:
    """Write the last activity of several people at once (reachable again, too)."""
    await people.touch_many(session=session, telegram_ids=telegram_ids, now=now)


@contextlib.contextmanager
def flow_ends_with_commit(*, telegram_id: int, flow: str, now: datetime) -> Iterator[None]:
    """Within this block, the transaction a use case commits also ends the person's `flow`.

    A flow's last step (confirm a broadcast, save a walk-in) commits its effect, then ends the
    flow. Two transactions would leave a window: a process dying between them (or Telegram
    delivering the press again after a restart) finds the flow still at "confirm", and a
    second press does it twice. Ended in the effect's own transaction, the flow is over
    exactly when the effect exists.
    """
    earlier = before_commit.get()

    async def end_too(session: AsyncSession) -> None:
        if earlier is not None:
            await earlier(session)
        await chat_state.end_flow(session, telegram_id=telegram_id, only=(flow,), now=now)

    token = before_commit.set(end_too)
    try:
        yield
    finally:
        before_commit.reset(token)
