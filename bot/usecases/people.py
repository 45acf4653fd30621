"""Use cases about a person's own settings."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import people
from bot.usecases import transaction
from storage.models import ChatState


@transaction
async def set_language(session: AsyncSession, *, telegram_id: int, lang: str) -> None:
    """Remember the person's language: on their chat state, and on their record if registered
    (notices are written in it)."""
    state = await session.get(ChatState, telegram_id) or ChatState(telegram_id=telegram_id)
    state.language = lang
    session.add(state)
    await people.set_language(session=session, telegram_id=telegram_id, lang=lang)
