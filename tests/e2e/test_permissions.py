"""The permission matrix: every command in the registry and every button the bot sends, for
every role.

Commands come from the registry (bot/commands.py), so a new command cannot escape the matrix:
COMMAND_POLICY must say who may use each one, as the README states it (not as the code happens
to say it).

Buttons come from what the bot actually sends. A privileged person and a newcomer each send
every command they are offered (a fresh person per command, so no conversation of one colours
another), a registrant gets the reminders, and every button they receive is pressed by a fresh
person of every role; the buttons those presses reveal (confirmations, a card redrawn after a
change) are pressed in turn, until nothing new appears. Each button becomes a "kind" (its data
with record ids replaced by {event}, {announcement} and {person}); BUTTON_POLICY says who may
press each kind, and the test fails on a kind it does not know or a kind the bot no longer
sends. Buttons of a conversation in progress (`~<nonce>:...`, and the families' older in-flow
buttons) work only for the person asked, so anyone else pressing one is told it is stale.

Each cell is a fresh person with their own event and announcement, so a permitted press that
changes something cannot hide a refused press that should not have. A refused cell must get
the polite refusal, change nothing, send no file and show no new buttons; a permitted cell must
not be refused, and one that changes something must be audited under the presser's record.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.commands import COMMANDS as REGISTRY
from bot.commands import offered
from bot.delivery.dispatcher import run_due
from bot.i18n import translator
from bot.services.access import NOBODY, Access
from storage.models import Announcement, CheckIn, Event, Person, Registration, Role
from tests.e2e.test_admin_support import (
    ARGUMENTS,
    World,
    audit_entries,
    command_texts,
    give_role,
    register,
    running_world,
)
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_telegram import Person as Chatter

ROLES = ("unregistered", "volunteer", "staff", "coordinator", "organiser", "admin", "config")
EVERYONE = set(ROLES)
REGISTERED = {"volunteer", "staff", "coordinator", "organiser", "admin"}
STAFF_UP = {"staff", "coordinator", "organiser", "admin", "config"}
WALKIN = {"staff", "organiser", "admin", "config"}
COORD_UP = {"coordinator", "organiser", "admin", "config"}
ORG_UP = {"organiser", "admin", "config"}
ADMINS = {"admin", "config"}
NOBODY_ELSE: set[str] = set()

# Who may use each command of the registry (the README's tables).
COMMAND_POLICY: dict[str, set[str]] = {
    "start": EVERYONE,
    "events": EVERYONE,
    "checkin": REGISTERED,
    "checkout": REGISTERED,
    "profile": REGISTERED,
    "mydata": REGISTERED,
    "forget": REGISTERED,
    "lang": EVERYONE,
    "cancel": EVERYONE,
    "help": EVERYONE,
    "checkin_for": STAFF_UP,
    "walkin": WALKIN,
    "newevent": ORG_UP,
    "broadcast": COORD_UP,
    "announcements": COORD_UP,
    "headcount": COORD_UP,
    "summary": COORD_UP,
    "export": ORG_UP,
    "grant": ADMINS,
    "revoke": ADMINS,
    "roles": ADMINS,
    "audit": ADMINS,
}

# Who may press each kind of button outside a conversation.
BUTTON_POLICY: dict[str, set[str]] = {
    # core: the language
    "lang:th": EVERYONE,
    "lang:en": EVERYONE,
    # events: registering, and an organiser's card
    "ev:reg:{event}": REGISTERED,
    "ev:unreg:{event}": REGISTERED,
    "ev:edit:{event}": ORG_UP,
    "ev:open:{event}": ORG_UP,
    "ev:close:{event}": ORG_UP,
    "ev:code:{event}": ORG_UP,
    "ev:rot:{event}": ORG_UP,
    "ev:auto:{event}": ORG_UP,
    "ev:out:{event}": ORG_UP,
    "ev:cancel:{event}": ORG_UP,
    "ev:cancelyes:{event}": ORG_UP,
    # "No, keep it" under a cancellation: the card drawn again, as the presser may see it.
    "ev:keep:{event}": EVERYONE,
    # reminders: a registrant's answer
    "rsvp:y:{event}": REGISTERED,
    "rsvp:n:{event}": REGISTERED,
    # check-in by staff
    "cf:{event}:{person}": STAFF_UP,
    # reports
    "hc:{event}": COORD_UP,
    "hcr:{event}": COORD_UP,
    "hcc:{event}": COORD_UP,
    "sm:{event}": COORD_UP,
    "ex:{event}": ORG_UP,
    # announcements (an organiser's: a coordinator may change only their own)
    "ann:c:{announcement}": ORG_UP,
    "ann:r:{announcement}": ORG_UP,
}

# Buttons that belong to a question someone else was asked: flows (`~<nonce>:<payload>`) and
# the in-flow buttons of families not moved to flows yet. Nobody else may press them.
IN_FLOW = re.compile(r"^(~|(start-lang|reg|forget|bc|ne|wi):)")

# Presses that change something at once, and so must leave an audit entry naming the presser.
AUDITED = {
    "ev:open:{event}",
    "ev:close:{event}",
    "ev:rot:{event}",
    "ev:auto:{event}",
    "ev:out:{event}",
    "ev:cancelyes:{event}",
    "cf:{event}:{person}",
    "ex:{event}",
    "ann:c:{announcement}",
}

# Ids no record has and no database column holds (§6 of the trust issue): every button with a
# record id is pressed with these too, and must be answered politely.
OVERSIZED_IDS = ("2147483648", "99999999999999999999", "0" * 40)

FIRST_EVENT, FIRST_ANNOUNCEMENT, VICTIM_ID = 1_000_000, 2_000_000, 3_000_000
# Records get ids far apart: on SQLite the bot's own rows (a reminder, a notice) take the next
# id after the highest, which must never be one the matrix is about to use.
ID_STRIDE = 1000
MAX_ROUNDS = 4
CONFIG_ADMINS = 90


# The texts that say no. The registry's guard says the first two; the others are families'
# own ways of saying "register first" (kept while they exist).
REFUSAL_KEYS = (
    "error.not_allowed",
    "error.not_registered",
    "error.stale_button",
    "error.not_found",
    "checkin.register_first",
    "mydata.nothing",
    "forget.nothing",
)


def refusals() -> set[str]:
    """The texts that say no (in Thai, everyone's language here)."""
    t = translator("th")
    return {t(key) for key in REFUSAL_KEYS if t.has(key)}


def apologies() -> set[str]:
    """What the error handler says when a handler failed (never a polite answer)."""
    t = translator("th")
    return {t("error.unexpected"), t("error.not_recorded")}


def verdict(response: str) -> str:
    """Whether a response says no."""
    return "refused" if response in refusals() else "allowed"


@dataclass
class Ids:
    """The record ids made for the matrix, by type (so button data can be read back)."""

    events: set[int] = field(default_factory=set)
    announcements: set[int] = field(default_factory=set)

    def kind_of(self, data: str) -> str:
        """A button's kind: its data with record ids as placeholders."""
        flow = IN_FLOW.match(data)
        if flow is not None:
            return f"{flow.group(1)}… (in a flow)"
        return ":".join(self._placeholder(part) for part in data.split(":"))

    def _placeholder(self, part: str) -> str:
        if part.isdigit() and int(part) in self.events:
            return "{event}"
        if part.isdigit() and int(part) in self.announcements:
            return "{announcement}"
        if part == str(VICTIM_ID):
            return "{person}"
        return part


@dataclass
class Records:
    """A cell's own event (check-in open) and scheduled announcement (an organiser's)."""

    event_id: int
    announcement_id: int

    def fill(self, kind: str, example: str) -> str:
        """The data to press for a kind, with this cell's records."""
        if kind.endswith("(in a flow)"):
            return example
        return kind.format(event=self.event_id, announcement=self.announcement_id, person=VICTIM_ID)


class Cast:
    """Hands out fresh people of a given role, and fresh records."""

    def __init__(self, world: World, ids: Ids) -> None:
        self.world = world
        self.ids = ids
        self.config_admins = iter(world.more_admins)
        self.numbers = itertools.count(1)
        self.records = itertools.count(0)
        self.author: Person | None = None

    async def person(self, role: str) -> tuple[Chatter, Person | None]:
        """A new person holding `role` (registered unless "unregistered" or "config")."""
        n = next(self.numbers)
        if role == "config":
            chatter = next(self.config_admins, None)
            assert chatter is not None, "raise CONFIG_ADMINS: every config cell needs its own"
            return chatter, None
        chatter = self.world.telegram.person(first_name=f"R{n}", username=f"cell{n}")
        if role == "unregistered":
            return chatter, None
        person = await register(self.world, chatter, full_name=f"บุคคล ที่{n}")
        if role in ("staff", "coordinator", "organiser", "admin"):
            await give_role(
                self.world, person, Role(role), zones=(3,) if role == "coordinator" else ()
            )
        return chatter, person

    async def make_records(self, *, created_ago: timedelta = timedelta(0)) -> Records:
        """An event happening now (check-in open) and a scheduled announcement by an organiser."""
        if self.author is None:
            _, self.author = await self.person("organiser")
        n = next(self.records)
        now = self.world.bot.clock.now()
        event = Event(
            id=FIRST_EVENT + n * ID_STRIDE,
            title=f"สัมมนา {n}",
            venue="กระทรวงแรงงาน",
            starts_at=now + timedelta(minutes=59 if created_ago else 10),
            ends_at=now + timedelta(hours=3),
            code=f"P{n:05d}",
            token=f"tok{n:010d}",
            created_by_id=self.author.id if self.author else None,
            created_at=now - created_ago,
        )
        announcement = Announcement(
            id=FIRST_ANNOUNCEMENT + n * ID_STRIDE,
            author_id=self.author.id if self.author else None,
            audience={"kind": "everyone"},
            text="ประกาศทดสอบ",
            send_at=now + timedelta(days=2),
        )
        async with self.world.sessions() as session:
            session.add(event)
            await session.commit()
            session.add(announcement)
            await session.commit()
        self.ids.events.add(event.id or 0)
        self.ids.announcements.add(announcement.id or 0)
        return Records(event.id or 0, announcement.id or 0)


async def sign_up(world: World, person: Person | None, event_id: int) -> None:
    """Register a person for an event (as /events would)."""
    if person is None:
        return
    async with world.sessions() as session:
        session.add(Registration(event_id=event_id, person_id=person.id or 0))
        await session.commit()


async def add_victim(world: World) -> Person:
    """The volunteer staff look for and check in (zone 3), with a chat of their own."""
    chatter = world.telegram.person(first_name="Somying")
    world.telegram.world.chats.setdefault(chatter.chat_id, chatter.chat)
    async with world.sessions() as session:
        victim = Person(
            id=VICTIM_ID,
            telegram_id=chatter.user_id,
            full_name="สมหญิง ทดสอบ",
            phone="+66819998888",
            district_code="1033",
            language="th",
        )
        session.add(victim)
        await session.commit()
        return victim


@pytest.fixture
async def world(telegram: FakeTelegram, database_url: str) -> AsyncIterator[World]:
    """A bot with many config admins (one per "config" cell)."""
    telegram.set_rate_limits(enabled=False)
    async with running_world(
        telegram, database_url, more_admins=CONFIG_ADMINS, flood_max_updates=10_000
    ) as running:
        yield running


def buttons_by_chat(telegram: FakeTelegram) -> dict[str, list[str]]:
    """Every callback_data the bot ever showed in each chat (sent or edited in)."""
    found: dict[str, list[str]] = {}
    for call in telegram.calls:
        markup = call.params.get("reply_markup")
        if not isinstance(markup, dict):
            continue
        chat = str(call.params.get("chat_id"))
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if isinstance(data, str):
                    found.setdefault(chat, []).append(data)
    return found


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


# ---------------------------------------------------------------------------------------------
# Commands


def test_the_policy_names_every_command_of_the_registry() -> None:
    registry = {entry.name for entry in REGISTRY}
    assert sorted(registry - set(COMMAND_POLICY)) == [], "add them to COMMAND_POLICY"
    assert sorted(set(COMMAND_POLICY) - registry) == [], "no longer in the registry"
    assert set(ARGUMENTS) <= registry


async def test_every_command_for_every_role(world: World) -> None:
    cast = Cast(world, Ids())
    await add_victim(world)
    await cast.make_records()
    cells = []
    for name, text in command_texts():
        for role in ROLES:
            chatter, _ = await cast.person(role)
            cells.append((name, text, role, chatter))
    for _, text, _, chatter in cells:
        await chatter.send(text)
    wrong = []
    for name, text, role, chatter in cells:
        response = await first_response(chatter, 0)
        expected = "allowed" if role in COMMAND_POLICY[name] else "refused"
        if verdict(response) != expected:
            wrong.append(f"{text} as {role}: expected {expected}, got {response!r}")
        if expected == "refused" and files_to(chatter):
            wrong.append(f"{text} as {role}: a file was sent")
    await world.bot.settle()
    assert wrong == [], "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# Buttons


@dataclass
class Cell:
    """One role pressing one kind of button."""

    kind: str
    role: str
    chatter: Chatter
    person: Person | None
    records: Records
    data: str = ""


async def tour(world: World, cast: Cast) -> list[str]:
    """Every button the bot sends to a privileged person and to a newcomer, for every command
    they are offered (one fresh person per text), and a registrant's reminder."""
    admin = Access(person_id=None, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset())
    tourists: list[Chatter] = []
    for role, access, registered in (("admin", admin, True), ("unregistered", NOBODY, False)):
        names = {entry.name for entry in offered(access, registered=registered)}
        for name, text in command_texts():
            if name in names:
                tourist, _ = await cast.person(role)
                await tourist.send(text)
                tourists.append(tourist)
    await world.bot.settle()
    assert world.bot.application is not None
    await run_due(world.bot.application)
    await world.bot.settle()
    sent = buttons_by_chat(world.telegram)
    victim_chat = str(await _victim_chat(world))
    return [data for t in tourists for data in sent.get(str(t.chat_id), [])] + sent.get(
        victim_chat, []
    )


async def _victim_chat(world: World) -> int:
    async with world.sessions() as session:
        victim = await session.get(Person, VICTIM_ID)
        assert victim is not None
        return victim.telegram_id or 0


async def snapshot(world: World, cell: Cell) -> dict[str, Any]:
    """Everything a refused press must leave as it was."""
    event_id, announcement_id = cell.records.event_id, cell.records.announcement_id
    async with world.sessions() as session:
        event = await session.get(Event, event_id)
        announcement = await session.get(Announcement, announcement_id)
        checkins = (await session.exec(select(CheckIn).where(CheckIn.event_id == event_id))).all()
        registrations = await session.exec(
            select(Registration.person_id, Registration.status, Registration.attending).where(
                col(Registration.event_id) == event_id
            )
        )
        return {
            "event": event.model_dump(exclude={"updated_at"}) if event else None,
            "announcement": announcement.model_dump() if announcement else None,
            "checkins": len(checkins),
            "registrations": sorted(map(tuple, registrations.all())),
        }


async def press_all(world: World, cells: list[Cell]) -> None:
    """Each cell gets a bot message to press on (/help), then presses its button."""
    for cell in cells:
        await cell.chatter.send("/help")
    for cell in cells:
        await cell.chatter.next_reply()
    for cell in cells:
        await cell.chatter.press_data(cell.data, message=cell.chatter.messages[0])


async def test_every_button_the_bot_sends_for_every_role(world: World) -> None:
    ids = Ids()
    cast = Cast(world, ids)
    victim = await add_victim(world)
    tour_records = await cast.make_records(created_ago=timedelta(days=2))
    await sign_up(world, victim, tour_records.event_id)
    examples: dict[str, str] = {}
    fresh = _new_kinds(ids, await tour(world, cast), examples)
    wrong: list[str] = []
    for _round in range(MAX_ROUNDS):
        if not fresh:
            break
        cells = []
        for kind in fresh:
            for role in ROLES:
                chatter, person = await cast.person(role)
                records = await cast.make_records()
                await sign_up(world, person, records.event_id)
                cell = Cell(kind, role, chatter, person, records)
                cell.data = records.fill(kind, examples[kind])
                cells.append(cell)
        before = {id(cell): await snapshot(world, cell) for cell in cells}
        await press_all(world, cells)
        wrong += await _judge(world, cells, before)
        sent = buttons_by_chat(world.telegram)
        revealed = {}
        for cell in cells:
            shown = sent.get(str(cell.chatter.chat_id), [])
            if shown and verdict(await first_response(cell.chatter, 1)) == "refused":
                wrong.append(f"{cell.data} as {cell.role}: refused, yet buttons were shown")
            revealed.update({data: cell for data in shown})
        fresh = _new_kinds(ids, list(revealed), examples)
    assert fresh == [], f"still finding new buttons after {MAX_ROUNDS} rounds: {fresh}"

    known = set(BUTTON_POLICY)
    seen = {kind for kind in examples if not kind.endswith("(in a flow)")}
    wrong += [
        f"{kind}: the bot sends it, but BUTTON_POLICY does not say who may press it"
        for kind in sorted(seen - known)
    ]
    wrong += [
        f"{kind}: in BUTTON_POLICY, but the bot no longer sends it" for kind in sorted(known - seen)
    ]
    wrong += await _oversized_ids(world, cast, [k for k in examples if "{" in k])
    assert wrong == [], "\n".join(wrong)


def _new_kinds(ids: Ids, data: Iterable[str], examples: dict[str, str]) -> list[str]:
    """Kinds not seen before (remembering one example of each)."""
    fresh = []
    for one in data:
        kind = ids.kind_of(one)
        if kind not in examples:
            examples[kind] = one
            fresh.append(kind)
    return fresh


def _allowed(kind: str, role: str) -> bool | None:
    """Whether the policy lets this role press this kind (None: the policy does not say)."""
    if kind.endswith("(in a flow)"):
        return False
    policy = BUTTON_POLICY.get(kind)
    return None if policy is None else role in policy


async def _judge(world: World, cells: list[Cell], before: dict[int, dict[str, Any]]) -> list[str]:
    """Check every cell of a round against the policy."""
    wrong = []
    for cell in cells:
        response = await first_response(cell.chatter, 1)
        allowed = _allowed(cell.kind, cell.role)
        expected = {True: "allowed", False: "refused", None: verdict(response)}[allowed]
        if verdict(response) != expected:
            wrong.append(f"{cell.data} as {cell.role}: expected {expected}, got {response!r}")
    await world.bot.settle()
    actors = {entry.actor_id for entry in await audit_entries(world)}
    for cell in cells:
        person_id = cell.person.id if cell.person else None
        allowed = _allowed(cell.kind, cell.role)
        if allowed and cell.kind in AUDITED and person_id is not None and person_id not in actors:
            wrong.append(f"{cell.data} as {cell.role}: done, yet not in the audit")
        if allowed is not False:
            continue
        if person_id is not None and person_id in actors:
            wrong.append(f"{cell.data} as {cell.role}: refused, yet audited as done")
        if await snapshot(world, cell) != before[id(cell)]:
            wrong.append(f"{cell.data} as {cell.role}: refused, yet something changed")
        if files_to(cell.chatter):
            wrong.append(f"{cell.data} as {cell.role}: refused, yet a file was sent")
    return wrong


async def _oversized_ids(world: World, cast: Cast, kinds: list[str]) -> list[str]:
    """Every button with a record id, pressed by an admin with ids no record can have."""
    cells = []
    for kind in kinds:
        for oversized in OVERSIZED_IDS:
            chatter, person = await cast.person("admin")
            cell = Cell(kind, "admin", chatter, person, Records(0, 0))
            cell.data = kind.format(event=oversized, announcement=oversized, person=oversized)
            cells.append(cell)
    await press_all(world, cells)
    wrong = []
    for cell in cells:
        response = await first_response(cell.chatter, 1)
        if response in apologies() or response == "(silence)":
            wrong.append(f"{cell.data}: expected a polite answer, got {response!r}")
    await world.bot.settle()
    return wrong


# ---------------------------------------------------------------------------------------------
# Particular cases


async def test_rescheduling_someone_elses_announcement_changes_nothing(world: World) -> None:
    cast = Cast(world, Ids())
    records = await cast.make_records()
    coordinator, _ = await cast.person("coordinator")
    await coordinator.send("/help")
    await coordinator.next_reply()
    before = len(coordinator.messages)
    await coordinator.press_data(
        f"ann:r:{records.announcement_id}", message=coordinator.messages[0]
    )
    answer = await coordinator.wait_for_answer()
    # Refused at the press: no question is asked whose answer could never be used.
    assert answer["text"] == translator("th")("error.not_allowed")
    await coordinator.send("22/7/2570 09.00")
    await coordinator.next_reply()
    assert len(coordinator.messages) == before + 1
    async with world.sessions() as session:
        announcement = await session.get(Announcement, records.announcement_id)
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
    "ann:c:2147483648",
    "ev:reg:999999",
    "ev:reg:99999999999999999999",
    "rsvp:y:2147483648",
    "cf:999999:1",
    "cf:99999999999:99999999999",
    "ex:999999",
    "hc:99999999999999",
    "lang:xx",
    "adm:zd",
    "adm:z:99999999999999999999",
    "~AAAA:z:99999999999999999999",
    "~:",
    "x" * 64,
)


async def test_forged_and_replayed_buttons_are_answered_politely_and_change_nothing(
    world: World,
) -> None:
    cast = Cast(world, Ids())
    chatter, person = await cast.person("volunteer")
    organiser, _ = await cast.person("organiser")
    assert person is not None
    records = await cast.make_records()
    for someone in (chatter, organiser):
        await someone.send("/help")
        await someone.next_reply()
    # An organiser cancels an announcement, then replays the button: a deleted one.
    await organiser.press_data(f"ann:c:{records.announcement_id}", message=organiser.messages[0])
    await organiser.wait_for_answer()
    await organiser.press_data(f"ann:c:{records.announcement_id}", message=organiser.messages[0])
    await world.bot.settle()
    assert len(organiser.callback_answers) == 2
    assert organiser.callback_answers[1]["text"]

    for data in FORGED:
        await chatter.press_data(data, message=chatter.messages[0])
    await world.bot.settle()
    answers = chatter.callback_answers
    assert [a["data"] for a in answers] == list(FORGED)
    assert all(answer["text"] for answer in answers), answers
    # Nothing went wrong on the way: no apology for an error.
    assert [m.text for m in chatter.messages[1:]] == []
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
    cast = Cast(world, Ids())
    coordinator, _ = await cast.person("coordinator")  # zone 3
    outsider_chat = world.telegram.person(first_name="Outsider")
    outsider = await register(world, outsider_chat, full_name="คนนอก โซน", district="1006")
    insider_chat = world.telegram.person(first_name="Insider")
    insider = await register(world, insider_chat, full_name="คนใน โซน", district="1033")
    records = await cast.make_records()
    await coordinator.send("/help")
    await coordinator.next_reply()
    await coordinator.press_data(
        f"cf:{records.event_id}:{outsider.id}", message=coordinator.messages[0]
    )
    assert (await coordinator.wait_for_answer())["text"] in refusals()
    await coordinator.press_data(
        f"cf:{records.event_id}:{insider.id}", message=coordinator.messages[0]
    )
    await world.bot.settle()
    async with world.sessions() as session:
        checked_in = (await session.exec(select(CheckIn.person_id))).all()
    assert checked_in == [insider.id]
