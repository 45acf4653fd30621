"""Property: no update, however strange or hostile, crashes the bot or corrupts its data.

Hypothesis drives the real application (over HTTP, through the fake Telegram) with random
texts, commands with random arguments, random and forged callback data, contacts, locations,
stickers and other media, edited messages, forwards, and group and channel traffic, from
people of every role. After each batch: no error reached the error handler, Telegram refused
nothing the bot sent (the fake answers 400 to a message over 4,096 characters, a bad
callback_data, unknown chats...); at the end, the database passes its integrity checks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlmodel import select

from bot.commands import COMMANDS
from storage.models import Person, Role, RoleGrant
from tests.e2e.test_admin_support import World, give_role, has_chatted, register, running_world
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chatter
from tests.fake_telegram.people import post_message

EXAMPLES = 300

# What people (and attackers) type: Thai, Latin, digits, emoji, quotes, SQL and markup.
PIECES = st.sampled_from(
    list("กขคงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะาิีึืุูเแโใไ่้๊๋์ๆฯ๑๒๓")
    + list("abcXYZ0123456789 @/:+-_.,;'\"`*<>&%$#!?()[]{}\\|\n\t")
    + ["👍", "🇹🇭", "\u200b", "\u0000", "\ufeff", "' OR 1=1 --", "<b>", "</i>", "*_~", "/start"]
)


def words(max_pieces: int) -> st.SearchStrategy[str]:
    """Text made of up to `max_pieces` pieces."""
    return st.lists(PIECES, min_size=1, max_size=max_pieces).map("".join)


TEXTS = st.one_of(
    words(12),
    words(200),
    st.sampled_from(
        [
            "x" * 5000,
            "ก" * 4096,
            "'; DROP TABLE person; --",
            "0812345678",
            "+66 81 234 5678",
            "@anong_admin",
            "22/7/2563 12.00",
            "ABC234",
        ]
    ),
).filter(lambda s: s.strip() != "")
COMMAND_NAMES = st.one_of(
    st.sampled_from([command.name for command in COMMANDS]),
    st.from_regex(r"[a-z_]{1,20}", fullmatch=True),
)
ARGUMENTS = st.one_of(
    st.just(""),
    st.sampled_from(
        ["admin @anong_admin", "coordinator 3 4 @p1", "staff 0812345678", "999", "-1", "30"]
    ),
    TEXTS,
)
CALLBACK_PREFIXES = st.sampled_from(
    ["", "adm:r:", "adm:z:", "adm:zd", "lang:", "start-lang:", "ev:reg:", "ev:cancel:", "ci:"]
)
CALLBACK_DATA = st.builds(
    lambda prefix, tail: (prefix + tail).encode()[:64].decode(errors="ignore") or "x",
    CALLBACK_PREFIXES,
    st.one_of(words(30), st.integers(-5, 10**12).map(str)),
)


@dataclass(frozen=True)
class Action:
    """One thing a person does."""

    who: int
    kind: str
    payload: Any = None


ACTIONS = st.one_of(
    st.builds(Action, st.integers(0, 4), st.just("text"), TEXTS),
    st.builds(
        Action,
        st.integers(0, 4),
        st.just("command"),
        st.tuples(COMMAND_NAMES, ARGUMENTS).map(lambda p: f"/{p[0]} {p[1]}".strip()),
    ),
    st.builds(Action, st.integers(0, 4), st.just("press"), CALLBACK_DATA),
    st.builds(
        Action,
        st.integers(0, 4),
        st.just("contact"),
        st.tuples(st.sampled_from(["own", "other", "none"]), TEXTS),
    ),
    st.builds(
        Action,
        st.integers(0, 4),
        st.just("location"),
        st.tuples(st.floats(-90, 90), st.floats(-180, 180), st.booleans()),
    ),
    st.builds(
        Action, st.integers(0, 4), st.sampled_from(["sticker", "photo", "voice", "document"])
    ),
    st.builds(Action, st.integers(0, 4), st.just("edit"), TEXTS),
    st.builds(Action, st.integers(0, 4), st.just("forward"), st.tuples(st.integers(0, 4), TEXTS)),
    st.builds(Action, st.integers(0, 4), st.just("group"), TEXTS),
    st.builds(Action, st.integers(0, 4), st.just("channel"), TEXTS),
)


@dataclass
class Cast:
    """The people who act: config admin, organiser, coordinator, staff, unregistered."""

    world: World
    people: list[Chatter]


@pytest.fixture
async def cast(telegram: FakeTelegram, database_url: str) -> AsyncIterator[Cast]:
    """A bot with people of every role, each of whom has already opened a chat."""
    telegram.set_rate_limits(enabled=False)
    async with running_world(telegram, database_url, flood_max_updates=100_000) as world:
        people = [world.admin]
        for n, role in enumerate((Role.ORGANISER, Role.COORDINATOR, Role.STAFF)):
            chatter = telegram.person(first_name=f"P{n}", username=f"p{n}")
            person = await register(world, chatter, full_name=f"คนที่ {n}")
            await give_role(world, person, role, zones=(3,) if role == Role.COORDINATOR else ())
            people.append(chatter)
        stranger = telegram.person(first_name="Stranger", language_code="en")
        has_chatted(telegram, stranger)
        people.append(stranger)
        for chatter in people:
            await chatter.send("/help")
            await chatter.next_reply()
        yield Cast(world=world, people=people)


async def perform(cast: Cast, action: Action) -> None:
    """Make one person do one thing."""
    telegram = cast.world.telegram
    person = cast.people[action.who]
    kind, payload = action.kind, action.payload
    if kind in ("text", "command"):
        await person.send(payload)
    elif kind == "press":
        await person.press_data(payload, message=person.last)
    elif kind == "contact":
        whose, phone = payload
        owner = {"own": person.user_id, "other": cast.people[0].user_id, "none": None}[whose]
        await person.share_contact(phone[:40], user_id=owner)
    elif kind == "location":
        latitude, longitude, live = payload
        await person.share_location(latitude, longitude, live_period=60 if live else None)
    elif kind == "sticker":
        await person.send_sticker()
    elif kind == "photo":
        await person.send_photo(caption="' OR 1=1 --")
    elif kind == "voice":
        await person.send_voice()
    elif kind == "document":
        await person.send_document("list.csv", b"name,phone\n")
    elif kind == "edit":
        if not any(m.text for m in person.sent_messages):
            await person.send("ก่อนแก้ไข")
        await person.edit_last(payload)
    elif kind == "forward":
        other, words = payload
        await person.forward_from(cast.people[other], words)
    elif kind == "group":
        group = telegram.group("กลุ่มอาสา")
        await group.send(person, payload)
        post_message(
            telegram.world,
            chat=group.chat,
            sender=person.user,
            content={"contact": {"phone_number": "0812345678", "first_name": "X"}},
        )
    elif kind == "channel":
        await telegram.channel("ข่าว").post(payload)


def problems(telegram: FakeTelegram, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What went wrong: refused API calls and errors that reached the logs."""
    # A call without a status is still in flight (the long poll for updates, typically).
    refused = [
        f"{c.method} -> {c.status} {c.description}"
        for c in telegram.failed_calls
        if c.status is not None
    ]
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    return refused + errors


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # One bot serves every example (starting it per example would take minutes); examples
    # share its database, which is the point: state accumulates as in real life.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=10))
async def test_random_updates_never_crash_or_corrupt(
    cast: Cast, caplog: pytest.LogCaptureFixture, actions: list[Action]
) -> None:
    caplog.set_level(logging.WARNING)
    for action in actions:
        await perform(cast, action)
    await cast.world.bot.settle()
    assert problems(cast.world.telegram, caplog) == []
    await check_database(cast.world)


async def check_database(world: World) -> None:
    """SQLite's own integrity checks, or PostgreSQL's view of orphans and duplicates."""
    async with world.sessions() as session:
        connection = await session.connection()
        if connection.dialect.name == "sqlite":
            integrity = (await connection.execute(text("PRAGMA integrity_check"))).scalars().all()
            assert integrity == ["ok"]
            orphans = (await connection.execute(text("PRAGMA foreign_key_check"))).all()
            assert orphans == []
        else:
            await connection.execute(text("SELECT count(*) FROM person"))
    async with world.sessions() as session:
        duplicates = await session.exec(
            select(RoleGrant.person_id, RoleGrant.role)
            .group_by(RoleGrant.person_id, RoleGrant.role)  # type: ignore[arg-type]
            .having(func.count() > 1)
        )
        assert duplicates.all() == []
        orphans = await session.exec(
            select(func.count())
            .select_from(RoleGrant)
            .outerjoin(Person, Person.id == RoleGrant.person_id)  # type: ignore[arg-type]
            .where(Person.id.is_(None))  # type: ignore[union-attr]
        )
        assert orphans.one() == 0
