"""Ending a person's flow in the database: one statement, in the caller's transaction.

A flow's state is its `chat_state` row (bot/flows.py reads and writes it on every update);
ending it forgets the step, the question's nonce and the draft, which may hold personal data.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatState

# What an ended flow leaves: nothing of where it was, nothing of what it held.
NO_FLOW: dict[str, Any] = {"flow": None, "step": None, "nonce": None, "draft": {}}


async def end_flow(
    session: AsyncSession,
    *,
    telegram_id: int | ColumnElement[Any],
    now: datetime,
    only: Collection[str] | None = None,
    nonce: str | None = None,
) -> None:
    """End the person's flow: any flow, or `only` these, or only while it still asks the
    question `nonce` (one that has moved on since is left alone)."""
    conditions = [col(ChatState.telegram_id) == telegram_id, col(ChatState.flow).is_not(None)]
    if only is not None:
        conditions.append(col(ChatState.flow).in_(only))
    if nonce is not None:
        conditions.append(col(ChatState.nonce) == nonce)
    await session.exec(update(ChatState).where(*conditions).values(**NO_FLOW, updated_at=now))
