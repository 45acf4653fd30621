"""Helpers for the roles, permissions, flood and fuzz tests (no tests here).

Registration is another family's work; these tests insert registered people straight into the
database, as the flows they exercise only need a registered row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from bot.commands import COMMANDS as REGISTRY
from bot.services.access import Access, access_for
from storage.models import AuditEntry, CoordinatorZone, Person, Role, RoleGrant
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chatter
from tests.harness import BotHarness, test_settings

BOOT = datetime(2026, 1, 1, tzinfo=UTC)

# Arguments that take a command further (an unknown event offers a list of events to pick
# from; a name finds people to check in): each is one more text of the tour and the matrix.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "checkin": ("ABC234",),
    "checkin_for": ("สมหญิง",),
    "headcount": ("?",),
    "summary": ("?",),
    "export": ("?", "volunteers"),
    "grant": ("staff @nobody_here",),
    "revoke": ("staff 0812345678",),
    "audit": ("30",),
}


@dataclass
class World:
    """A running bot whose config names one admin, and the fake Telegram it talks to."""

    bot: BotHarness
    telegram: FakeTelegram
    admin: Chatter
    more_admins: list[Chatter]

    @property
    def sessions(self) -> Any:
        """The bot's session factory."""
        return self.bot.sessions


@contextlib.asynccontextmanager
async def running_world(
    telegram: FakeTelegram, database_url: str, *, more_admins: int = 0, **bot_settings: Any
) -> AsyncIterator[World]:
    """Start the bot with config admins (people the fake knows before the bot starts)."""
    admin = telegram.person(first_name="Anong", username="anong_admin", language_code="th")
    others = [telegram.person(first_name=f"Admin{n}") for n in range(more_admins)]
    for chatter in (admin, *others):
        has_chatted(telegram, chatter)
    settings = test_settings(
        telegram=telegram,
        database_url=database_url,
        bot={"admins": [c.user_id for c in (admin, *others)], **bot_settings},
    )
    harness = BotHarness(settings=settings, telegram=telegram)
    await harness.start()
    try:
        yield World(bot=harness, telegram=telegram, admin=admin, more_admins=others)
    finally:
        await harness.stop()


async def register(world: World, chatter: Chatter, **fields: Any) -> Person:
    """Insert a registered person for a fake Telegram user (fields: see person_row)."""
    person = person_row(world, chatter, **fields)
    async with world.sessions() as session:
        session.add(person)
        await session.commit()
        return person


def person_row(
    world: World,
    chatter: Chatter,
    *,
    full_name: str = "สมชาย ใจดี",
    phone: str | None = None,
    language: str = "th",
    district: str | None = "1033",
) -> Person:
    """The row of a registered person for a fake Telegram user (not yet written); the fake
    knows their chat from now on."""
    has_chatted(world.telegram, chatter)
    return Person(
        telegram_id=chatter.user_id,
        telegram_username=chatter.username,
        full_name=full_name,
        phone=phone or f"+66812{chatter.user_id % 1_000_000:06d}",
        language=language,
        district_code=district,
        consent_at=BOOT,
        consent_version="2026-11",
    )


def has_chatted(telegram: FakeTelegram, chatter: Chatter) -> None:
    """Make the fake know the person's private chat, as it would after their first message."""
    telegram.world.chats.setdefault(chatter.chat_id, chatter.chat)


async def give_role(world: World, person: Person, role: Role, zones: tuple[int, ...] = ()) -> None:
    """Grant a role straight in the database (as an earlier admin would have)."""
    async with world.sessions() as session:
        session.add(RoleGrant(person_id=person.id or 0, role=role.value))
        for zone in zones:
            session.add(CoordinatorZone(person_id=person.id or 0, zone=zone))
        await session.commit()


async def access_of(world: World, person: Person) -> Access:
    """What the bot thinks this person may do now."""
    async with world.sessions() as session:
        fresh = await session.get(Person, person.id)
        return await access_for(
            session=session,
            person=fresh,
            telegram_id=person.telegram_id,
            config_admins=world.bot.settings.bot.admins,
        )


async def audit_entries(world: World) -> list[AuditEntry]:
    """The audit trail, oldest first."""
    async with world.sessions() as session:
        statement = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
        return list((await session.exec(statement)).all())


def menu_of(telegram: FakeTelegram, chatter: Chatter) -> list[str] | None:
    """The command names in a person's own menu (None when never set for their chat)."""
    commands = telegram.commands_for({"type": "chat", "chat_id": chatter.chat_id})
    return None if commands is None else [command["command"] for command in commands]


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait for a condition the bot makes true without sending anything (e.g. a dropped update)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def command_texts() -> list[tuple[str, str]]:
    """(command name, text to send) for every command in the registry, with its arguments."""
    return [
        (entry.name, text)
        for entry in REGISTRY
        for text in (
            f"/{entry.name}",
            *(f"/{entry.name} {a}" for a in ARGUMENTS.get(entry.name, ())),
        )
    ]
