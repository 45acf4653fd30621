"""The permission matrix: every privileged command and button, pressed by every role.

Each cell is a fresh person holding one role (so no conversation or earlier answer of one
cell can colour another) and, for buttons, its own event and announcement, so a permitted
press that changes something cannot hide a refused press that should not have. A refused
cell must get the polite refusal and change nothing; a permitted cell must not be refused.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.i18n import translator
from bot.services import events
from storage.models import Announcement, CheckIn, Event, Person, Role
from tests.e2e.test_admin_support import (
    World,
    audit_entries,
    give_role,
    register,
    running_world,
)
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_telegram import Person as Chatter

ROLES = ("unregistered", "volunteer", "staff", "coordinator", "organiser", "admin", "config")
STAFF_UP = {"staff", "coordinator", "organiser", "admin", "config"}
WALKIN = {"staff", "organiser", "admin", "config"}
COORD_UP = {"coordinator", "organiser", "admin", "config"}
ORG_UP = {"organiser", "admin", "config"}
ADMINS = {"admin", "config"}

# Who may use each command, as the issue states it (not as the code happens to say it).
COMMANDS: dict[str, set[str]] = {
    "/checkin_for": STAFF_UP,
    "/walkin": WALKIN,
    "/newevent": ORG_UP,
    "/broadcast": COORD_UP,
    "/announcements": COORD_UP,
    "/headcount": COORD_UP,
    "/summary": COORD_UP,
    "/export": ORG_UP,
    "/export volunteers": ORG_UP,
    "/grant": ADMINS,
    "/grant staff @p1": ADMINS,
    "/revoke": ADMINS,
    "/roles": ADMINS,
    "/audit": ADMINS,
}

# Buttons, with {event}, {announcement} and {person} filled per cell. The announcement is an
# organiser's: a coordinator may change only their own.
BUTTONS: dict[str, set[str]] = {
    "ev:open:{event}": ORG_UP,
    "ev:close:{event}": ORG_UP,
    "ev:rot:{event}": ORG_UP,
    "ev:rotyes:{event}:{code_version}": ORG_UP,
    "ev:autoon:{event}": ORG_UP,
    "ev:outon:{event}": ORG_UP,
    "ev:code:{event}": ORG_UP,
    "ev:cancel:{event}": ORG_UP,
    "ev:cancelyes:{event}": ORG_UP,
    "ev:keep:{event}": ORG_UP,
    "ev:edit:{event}": ORG_UP,
    # Chosen from a search in progress: replayed on its own it is stale for everyone.
    "cfe:{event}": set(),
    "cf:{event}:{person}": STAFF_UP,
    "hc:{event}": COORD_UP,
    "hcr:{event}": COORD_UP,
    "hcc:{event}": COORD_UP,
    "sm:{event}": COORD_UP,
    "ex:{event}": ORG_UP,
    "ann:c:{announcement}": ORG_UP,
    # Like cancelling: the author (here an organiser) or any organiser, refused at the press;
    # see test_rescheduling_someone_elses_announcement_changes_nothing below.
    "ann:r:{announcement}": ORG_UP,
    # Outside its conversation an admin button does nothing, for anyone.
    "adm:r:admin": set(),
    "adm:z:3": set(),
}


# Buttons that change something at once, and so must leave an audit entry naming the presser.
AUDITED = {
    "ev:open:{event}",
    "ev:close:{event}",
    "ev:rotyes:{event}:{code_version}",
    "ev:autoon:{event}",
    "ev:outon:{event}",
    "ev:cancelyes:{event}",
    "cf:{event}:{person}",
    "ex:{event}",
    "ann:c:{announcement}",
}


def refusals() -> set[str]:
    """The texts that say no (in Thai, everyone's language here)."""
    t = translator("th")
    return {t("error.not_allowed"), t("error.not_registered"), t("error.stale_button")}


@dataclass
class Cell:
    """One role trying one command or button."""

    action: str
    role: str
    chatter: Chatter
    allowed: bool
    data: str = ""
    event_id: int = 0
    announcement_id: int = 0
    person_id: int | None = None


@pytest.fixture
async def world(telegram: FakeTelegram, database_url: str) -> AsyncIterator[World]:
    """A bot with many config admins (one per "config" cell)."""
    telegram.set_rate_limits(enabled=False)
    config_cells = len(COMMANDS) + len(BUTTONS)
    async with running_world(
        telegram, database_url, more_admins=config_cells, flood_max_updates=10_000
    ) as running:
        yield running


class Cast:
    """Hands out a fresh person of a given role for each cell."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.config_admins = iter(world.more_admins)
        self.numbers = itertools.count(1)

    async def person(self, role: str) -> tuple[Chatter, Person | None]:
        """A new person holding `role` (registered unless "unregistered")."""
        n = next(self.numbers)
        if role == "config":
            chatter = next(self.config_admins)
        else:
            chatter = self.world.telegram.person(first_name=f"R{n}", username=f"cell{n}")
        if role == "unregistered":
            return chatter, None
        person = await register(self.world, chatter, full_name=f"บุคคล ที่{n}")
        if role in ("staff", "coordinator", "organiser", "admin"):
            await give_role(
                self.world, person, Role(role), zones=(3,) if role == "coordinator" else ()
            )
        return chatter, person


async def make_records(world: World, author: Person) -> tuple[int, int]:
    """An event happening now (check-in open) and a scheduled announcement by `author`."""
    now = world.bot.clock.now()
    async with world.sessions() as session:
        count = len((await session.exec(select(Event.id))).all())
        event = Event(
            title=f"สัมมนา {count}",
            venue="กระทรวงแรงงาน",
            starts_at=now + timedelta(minutes=10),
            ends_at=now + timedelta(hours=3),
            code=f"T{count:06d}",
            token=f"tok{count:010d}",
            created_by_id=author.id,
        )
        session.add(event)
        await session.commit()
        announcement = Announcement(
            author_id=author.id,
            audience={"kind": "everyone"},
            text="ประกาศทดสอบ",
            send_at=now + timedelta(days=2),
        )
        session.add(announcement)
        await session.commit()
        return event.id or 0, announcement.id or 0


async def code_version_of(world: World, event_id: int) -> int:
    """What a "new code" confirmation for this event's current code carries."""
    async with world.sessions() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        return events.code_version(event)


async def snapshot(world: World, cell: Cell) -> dict[str, Any]:
    """Everything a refused press must leave as it was."""
    async with world.sessions() as session:
        event = await session.get(Event, cell.event_id)
        announcement = await session.get(Announcement, cell.announcement_id)
        checkins = (
            await session.exec(select(CheckIn).where(CheckIn.event_id == cell.event_id))
        ).all()
        return {
            "event": event.model_dump() if event else None,
            "announcement": announcement.model_dump() if announcement else None,
            "checkins": len(checkins),
        }


def files_to(chatter: Chatter) -> list[SentMessage]:
    """Documents and photos the bot sent someone (exports, charts, QR codes)."""
    return [m for m in chatter.messages if m.kind in ("document", "photo")]


async def first_response(chatter: Chatter, since: int) -> str:
    """The first thing the bot said to a cell: a message, or a button answer's text."""
    answers = chatter.callback_answers
    await chatter.world.messages_changed.wait_until(
        lambda: len(chatter.messages) > since or bool(answers), 10
    )
    if answers and answers[0].get("text"):
        return str(answers[0]["text"])
    if len(chatter.messages) > since:
        return chatter.messages[since].text or chatter.messages[since].kind
    return "(silence)" if not answers else "(answered without text)"


def verdict(response: str) -> str:
    """Whether a response says no."""
    return "refused" if response in refusals() else "allowed"


async def test_every_privileged_command_for_every_role(world: World) -> None:
    cast = Cast(world)
    cells = []
    for command, allowed in COMMANDS.items():
        for role in ROLES:
            chatter, _ = await cast.person(role)
            cells.append(Cell(command, role, chatter, role in allowed))
    for cell in cells:
        await cell.chatter.send(cell.action)
    wrong = []
    for cell in cells:
        response = await first_response(cell.chatter, 0)
        expected = "allowed" if cell.allowed else "refused"
        if verdict(response) != expected:
            wrong.append(f"{cell.action} as {cell.role}: expected {expected}, got {response!r}")
        if not cell.allowed and files_to(cell.chatter):
            wrong.append(f"{cell.action} as {cell.role}: a file was sent")
    assert wrong == [], "\n".join(wrong)


async def test_every_privileged_button_for_every_role(world: World) -> None:
    cast = Cast(world)
    _author, author_person = await cast.person("organiser")
    assert author_person is not None
    _victim, victim_person = await cast.person("volunteer")
    assert victim_person is not None
    cells = []
    for template, allowed in BUTTONS.items():
        for role in ROLES:
            chatter, person = await cast.person(role)
            event_id, announcement_id = await make_records(world, author_person)
            data = template.format(
                event=event_id,
                announcement=announcement_id,
                person=victim_person.id,
                code_version=await code_version_of(world, event_id),
            )
            cells.append(
                Cell(
                    template,
                    role,
                    chatter,
                    role in allowed,
                    data,
                    event_id,
                    announcement_id,
                    person.id if person else None,
                )
            )
    # Every cell needs a bot message to press a (forged) button on.
    for cell in cells:
        await cell.chatter.send("/help")
    for cell in cells:
        await cell.chatter.next_reply()
    before = {id(cell): await snapshot(world, cell) for cell in cells}
    for cell in cells:
        await cell.chatter.press_data(cell.data, message=cell.chatter.messages[0])
    wrong = []
    for cell in cells:
        response = await first_response(cell.chatter, 1)
        expected = "allowed" if cell.allowed else "refused"
        if verdict(response) != expected:
            wrong.append(f"{cell.data} as {cell.role}: expected {expected}, got {response!r}")
    await world.bot.settle()
    actors = {entry.actor_id for entry in await audit_entries(world)}
    for cell in cells:
        if cell.allowed and cell.action in AUDITED and cell.person_id not in actors:
            wrong.append(f"{cell.data} as {cell.role}: done, yet not in the audit")
        if cell.allowed:
            continue
        if cell.person_id is not None and cell.person_id in actors:
            wrong.append(f"{cell.data} as {cell.role}: refused, yet audited as done")
        if await snapshot(world, cell) != before[id(cell)]:
            wrong.append(f"{cell.data} as {cell.role}: refused, yet something changed")
        if files_to(cell.chatter):
            wrong.append(f"{cell.data} as {cell.role}: refused, yet a file was sent")
    assert wrong == [], "\n".join(wrong)


async def test_rescheduling_someone_elses_announcement_changes_nothing(world: World) -> None:
    cast = Cast(world)
    _, author = await cast.person("organiser")
    assert author is not None
    coordinator, _ = await cast.person("coordinator")
    _, announcement_id = await make_records(world, author)
    await coordinator.send("/help")
    await coordinator.next_reply()
    before = len(coordinator.messages)
    await coordinator.press_data(f"ann:r:{announcement_id}", message=coordinator.messages[0])
    answer = await coordinator.wait_for_answer()
    # Refused at the press: no question is asked whose answer could never be used.
    assert answer["text"] == translator("th")("error.not_allowed")
    await coordinator.send("22/7/2570 09.00")
    await coordinator.next_reply()
    assert len(coordinator.messages) == before + 1
    async with world.sessions() as session:
        announcement = await session.get(Announcement, announcement_id)
        assert announcement is not None
        assert announcement.status == "scheduled"
        assert announcement.send_at > world.bot.clock.now() + timedelta(days=1)


FORGED = (
    "forget:yes",
    "reg:ok",
    "reg:consent:yes",
    "wi:ok",
    "bc:yes",
    "ann:c:999999",
    "ev:reg:999999",
    "ev:reg:99999999999999999999",
    "ev:rotyes:1:99999999999",
    "rsvp:y:999999",
    "cf:999999:1",
    "ex:999999",
    "lang:xx",
    "adm:zd",
    "x" * 64,
)


async def test_forged_and_replayed_buttons_are_answered_politely_and_change_nothing(
    world: World,
) -> None:
    cast = Cast(world)
    chatter, person = await cast.person("volunteer")
    organiser, organiser_person = await cast.person("organiser")
    assert person is not None
    assert organiser_person is not None
    _, announcement_id = await make_records(world, organiser_person)
    for someone in (chatter, organiser):
        await someone.send("/help")
        await someone.next_reply()
    # The organiser cancels their announcement, then replays the button: a deleted one.
    await organiser.press_data(f"ann:c:{announcement_id}", message=organiser.messages[0])
    await organiser.wait_for_answer()
    await organiser.press_data(f"ann:c:{announcement_id}", message=organiser.messages[0])
    await world.bot.settle()
    assert len(organiser.callback_answers) == 2
    assert organiser.callback_answers[1]["text"]

    for data in FORGED:
        await chatter.press_data(data, message=chatter.messages[0])
    await world.bot.settle()
    answers = chatter.callback_answers
    assert [a["data"] for a in answers] == list(FORGED)
    assert all(answer["text"] for answer in answers), answers
    assert world.telegram.failed_calls == [] or all(
        c.status is None for c in world.telegram.failed_calls
    )
    async with world.sessions() as session:
        fresh = await session.get(Person, person.id)
        assert fresh is not None
        assert fresh.erased_at is None
        assert fresh.full_name is not None
        checkins = (await session.exec(select(CheckIn))).all()
        assert checkins == []


async def test_a_coordinator_checks_in_only_people_of_their_own_zones(world: World) -> None:
    cast = Cast(world)
    coordinator, _ = await cast.person("coordinator")  # zone 3
    _, organiser = await cast.person("organiser")
    assert organiser is not None
    outsider_chat = world.telegram.person(first_name="Outsider")
    outsider = await register(world, outsider_chat, full_name="คนนอก โซน", district="1006")
    insider_chat = world.telegram.person(first_name="Insider")
    insider = await register(world, insider_chat, full_name="คนใน โซน", district="1033")
    event_id, _ = await make_records(world, organiser)
    await coordinator.send("/help")
    await coordinator.next_reply()
    await coordinator.press_data(f"cf:{event_id}:{outsider.id}", message=coordinator.messages[0])
    assert (await coordinator.wait_for_answer())["text"] in refusals() | {
        translator("th")("error.not_found")
    }
    await coordinator.press_data(f"cf:{event_id}:{insider.id}", message=coordinator.messages[0])
    await world.bot.settle()
    async with world.sessions() as session:
        checked_in = (await session.exec(select(CheckIn.person_id))).all()
    assert checked_in == [insider.id]
