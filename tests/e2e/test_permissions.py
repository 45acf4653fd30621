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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlmodel import col, select

from bot.commands import COMMANDS as REGISTRY
from bot.commands import offered
from bot.delivery.dispatcher import run_due
from bot.i18n import translator
from bot.services.access import NOBODY, Access
from storage.models import (
    Announcement,
    CheckIn,
    CoordinatorZone,
    Event,
    Person,
    Registration,
    Role,
    RoleGrant,
)
from tests.e2e.test_admin_support import (
    ARGUMENTS,
    World,
    audit_entries,
    command_texts,
    person_row,
    register,
    running_world,
)
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_telegram import Person as Chatter

T = TypeVar("T")

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
    # A newcomer's /checkin CODE starts registration and checks in after it.
    "checkin": EVERYONE,
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
    "merge": WALKIN,
    "screen": COORD_UP,
    "dashboard": COORD_UP,
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
    "ev:rotyes:{event}:{version}": ORG_UP,
    "ev:autoon:{event}": ORG_UP,
    "ev:autooff:{event}": ORG_UP,
    "ev:outon:{event}": ORG_UP,
    "ev:outoff:{event}": ORG_UP,
    "ev:cancel:{event}": ORG_UP,
    "ev:cancelyes:{event}": ORG_UP,
    # "No, keep it" under a confirmation: the organiser's card drawn again.
    "ev:keep:{event}": ORG_UP,
    # the venue screen's link, and the dashboard's laptop login
    "scr:new:{event}": COORD_UP,
    "scr:renew:{event}": COORD_UP,
    "scr:keep:{event}": COORD_UP,
    # A laptop login is for a person's record: a config admin who never registered is told to.
    "dsh:login:{event}": COORD_UP - {"config"},
    # reminders: a registrant's answer
    "rsvp:y:{event}": REGISTERED,
    "rsvp:n:{event}": REGISTERED,
    "rsvp:x:{event}": REGISTERED,
    "rsvp:b:{event}": REGISTERED,
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
    "ev:autoon:{event}",
    "ev:outon:{event}",
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
# Cells sent to the bot at once, and how long a wave may take to settle (with 40 ms added to
# every statement, a wave is several seconds of work on SQLite's one connection).
WAVE = 25
WAVE_SETTLE_SECONDS = 120.0


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
        parts = [self._placeholder(part) for part in data.split(":")]
        if data.startswith("ev:rotyes:") and len(parts) == 4:
            parts[3] = "{version}"  # the code's version the organiser saw, not a record
        return ":".join(parts)

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
        return kind.format(
            event=self.event_id,
            announcement=self.announcement_id,
            person=VICTIM_ID,
            # A code version the fresh event never had: the press is judged, and changes nothing.
            version=0,
        )


@dataclass
class Member:
    """A person of one role, as the fake and the database know them."""

    role: str
    chatter: Chatter
    person: Person | None


class Cast:
    """Hands out fresh people of given roles and fresh records, many at once (one transaction
    each: the matrix runs with 40 ms added to every statement too)."""

    def __init__(self, world: World, ids: Ids) -> None:
        self.world = world
        self.ids = ids
        self.config_admins = iter(world.more_admins)
        self.numbers = itertools.count(1)
        self.serials = itertools.count(0)
        self.author: Person | None = None

    def _member(self, role: str) -> Member:
        """A new person of `role` (registered unless "unregistered" or "config"), unwritten."""
        if role == "config":
            chatter = next(self.config_admins, None)
            assert chatter is not None, "raise CONFIG_ADMINS: every config cell needs its own"
            return Member(role, chatter, None)
        n = next(self.numbers)
        chatter = self.world.telegram.person(first_name=f"R{n}", username=f"cell{n}")
        if role == "unregistered":
            return Member(role, chatter, None)
        return Member(role, chatter, person_row(self.world, chatter, full_name=f"บุคคล ที่{n}"))

    def _records(self, created_ago: timedelta) -> tuple[Event, Announcement]:
        """An event happening now (check-in open) and an organiser's scheduled announcement."""
        n = next(self.serials)
        now = self.world.bot.clock.now()
        author_id = self.author.id if self.author is not None else None
        event = Event(
            id=FIRST_EVENT + n * ID_STRIDE,
            title=f"สัมมนา {n}",
            venue="กระทรวงแรงงาน",
            starts_at=now + timedelta(minutes=59 if created_ago else 10),
            ends_at=now + timedelta(hours=3),
            code=f"P{n:05d}",
            token=f"tok{n:010d}",
            created_by_id=author_id,
            created_at=now - created_ago,
        )
        announcement = Announcement(
            id=FIRST_ANNOUNCEMENT + n * ID_STRIDE,
            author_id=author_id,
            audience={"kind": "everyone"},
            text="ประกาศทดสอบ",
            send_at=now + timedelta(days=2),
        )
        self.ids.events.add(event.id or 0)
        self.ids.announcements.add(announcement.id or 0)
        return event, announcement

    async def people(self, roles: Sequence[str]) -> list[Member]:
        """Fresh people, one per role."""
        return [member for member, _ in await self.setup(roles, records=False)]

    async def person(self, role: str) -> tuple[Chatter, Person | None]:
        """One fresh person of `role`."""
        [member] = await self.people([role])
        return member.chatter, member.person

    async def setup(
        self, roles: Sequence[str], *, records: bool = True, created_ago: timedelta = timedelta(0)
    ) -> list[tuple[Member, Records]]:
        """Fresh people, one per role, each (with `records`) signed up for an event of their own."""
        if records and self.author is None:
            [organiser] = await self.people(["organiser"])
            self.author = organiser.person
        members = [self._member(role) for role in roles]
        rows = [self._records(created_ago) if records else None for _ in members]
        async with self.world.sessions() as session:
            session.add_all(m.person for m in members if m.person is not None)
            session.add_all(row for pair in rows if pair is not None for row in pair)
            await session.flush()
            for member, pair in zip(members, rows, strict=True):
                person_id = member.person.id if member.person is not None else None
                if person_id is None:
                    continue
                if member.role in ("staff", "coordinator", "organiser", "admin"):
                    session.add(RoleGrant(person_id=person_id, role=member.role))
                if member.role == "coordinator":
                    session.add(CoordinatorZone(person_id=person_id, zone=3))
                if pair is not None:
                    session.add(Registration(event_id=pair[0].id or 0, person_id=person_id))
            await session.commit()
        return [
            (member, Records(pair[0].id or 0, pair[1].id or 0) if pair else Records(0, 0))
            for member, pair in zip(members, rows, strict=True)
        ]


async def add_victim(world: World, *, signed_up_for: int | None = None) -> Person:
    """The volunteer staff look for and check in (zone 3), with a chat of their own."""
    chatter = world.telegram.person(first_name="Somying")
    victim = person_row(world, chatter, full_name="สมหญิง ทดสอบ", phone="+66819998888")
    victim.id = VICTIM_ID
    async with world.sessions() as session:
        session.add(victim)
        await session.flush()
        if signed_up_for is not None:
            session.add(Registration(event_id=signed_up_for, person_id=VICTIM_ID))
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


def first_response(chatter: Chatter, since: int) -> str:
    """The first thing the bot said to a cell (once settled): a message, or a button answer."""
    answers = chatter.callback_answers
    if answers and answers[0].get("text"):
        return str(answers[0]["text"])
    if len(chatter.messages) > since:
        return chatter.messages[since].text or chatter.messages[since].kind
    return "(silence)" if not answers else "(answered without text)"


async def in_waves(
    world: World, items: Sequence[T], *steps: Callable[[T], Awaitable[object]]
) -> None:
    """Each step for a wave of items, the bot settled after each step, then the next wave:
    the bot's queue stays short however large the matrix (and SQLite's one connection with
    it, which everyone waits for)."""
    for start in range(0, len(items), WAVE):
        wave = items[start : start + WAVE]
        for step in steps:
            for item in wave:
                await step(item)
            await world.bot.settle(WAVE_SETTLE_SECONDS)


# ---------------------------------------------------------------------------------------------
# Commands


def test_the_policy_names_every_command_of_the_registry() -> None:
    registry = {entry.name for entry in REGISTRY}
    assert sorted(registry - set(COMMAND_POLICY)) == [], "add them to COMMAND_POLICY"
    assert sorted(set(COMMAND_POLICY) - registry) == [], "no longer in the registry"
    assert set(ARGUMENTS) <= registry


async def test_every_command_for_every_role(world: World) -> None:
    cast = Cast(world, Ids())
    [(_, records)] = await cast.setup(["volunteer"])
    await add_victim(world, signed_up_for=records.event_id)
    texts = command_texts()
    members = await cast.people([role for _ in texts for role in ROLES])
    cells = [
        (name, text, member)
        for (name, text), member in zip(
            [pair for pair in texts for _ in ROLES], members, strict=True
        )
    ]

    async def send(cell: tuple[str, str, Member]) -> None:
        await cell[2].chatter.send(cell[1])

    await in_waves(world, cells, send)
    wrong = []
    for name, text, member in cells:
        response = first_response(member.chatter, 0)
        expected = "allowed" if member.role in COMMAND_POLICY[name] else "refused"
        if verdict(response) != expected:
            wrong.append(f"{text} as {member.role}: expected {expected}, got {response!r}")
        if expected == "refused" and files_to(member.chatter):
            wrong.append(f"{text} as {member.role}: a file was sent")
    assert wrong == [], "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# Buttons


@dataclass
class Cell:
    """One role pressing one kind of button."""

    kind: str
    member: Member
    records: Records
    data: str = ""

    @property
    def role(self) -> str:
        """The presser's role."""
        return self.member.role

    @property
    def chatter(self) -> Chatter:
        """The presser's chat."""
        return self.member.chatter

    @property
    def person_id(self) -> int | None:
        """The presser's record, if registered."""
        return self.member.person.id if self.member.person is not None else None


async def tour(world: World, cast: Cast) -> list[str]:
    """Every button the bot sends to a privileged person and to a newcomer, for every command
    they are offered (one fresh person per text), and a registrant's reminder."""
    admin = Access(person_id=None, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset())
    visits: list[tuple[str, str]] = []
    for role, access, registered in (("admin", admin, True), ("unregistered", NOBODY, False)):
        names = {entry.name for entry in offered(access, registered=registered)}
        visits += [(role, text) for name, text in command_texts() if name in names]
    tourists = await cast.people([role for role, _ in visits])
    pairs = list(zip(tourists, [text for _, text in visits], strict=True))

    async def send(pair: tuple[Member, str]) -> None:
        await pair[0].chatter.send(pair[1])

    await in_waves(world, pairs, send)
    assert world.bot.application is not None
    await run_due(world.bot.application)
    await world.bot.settle(WAVE_SETTLE_SECONDS)
    sent = buttons_by_chat(world.telegram)
    chats = [str(t.chatter.chat_id) for t in tourists] + [str(await _victim_chat(world))]
    return [data for chat in chats for data in sent.get(chat, [])]


async def _victim_chat(world: World) -> int:
    async with world.sessions() as session:
        victim = await session.get(Person, VICTIM_ID)
        assert victim is not None
        return victim.telegram_id or 0


async def snapshots(world: World, cells: Sequence[Cell]) -> dict[int, dict[str, Any]]:
    """Everything a refused press must leave as it was, by event."""
    event_ids = [cell.records.event_id for cell in cells]
    found: dict[int, dict[str, Any]] = {
        cell.records.event_id: {"checkins": 0, "registrations": []} for cell in cells
    }
    announcement_of = {cell.records.announcement_id: cell.records.event_id for cell in cells}
    async with world.sessions() as session:
        for event in await session.exec(select(Event).where(col(Event.id).in_(event_ids))):
            found[event.id or 0]["event"] = event.model_dump(exclude={"updated_at"})
        announcements = await session.exec(
            select(Announcement).where(col(Announcement.id).in_(list(announcement_of)))
        )
        for announcement in announcements:
            found[announcement_of[announcement.id or 0]]["announcement"] = announcement.model_dump()
        for event_id in (await session.exec(select(CheckIn.event_id))).all():
            if event_id in found:
                found[event_id]["checkins"] += 1
        registrations = await session.exec(
            select(
                Registration.event_id,
                Registration.person_id,
                Registration.status,
                Registration.attending,
            ).where(col(Registration.event_id).in_(event_ids))
        )
        for event_id, *rest in registrations.all():
            found[event_id]["registrations"].append(tuple(rest))
    return found


async def press_all(world: World, cells: Sequence[Cell]) -> None:
    """Each cell gets a bot message to press on (/help), then presses its button."""

    async def ask_help(cell: Cell) -> None:
        await cell.chatter.send("/help")

    async def press(cell: Cell) -> None:
        assert cell.chatter.messages, f"{cell.role} got no answer to /help"
        await cell.chatter.press_data(cell.data, message=cell.chatter.messages[0])

    await in_waves(world, cells, ask_help, press)


async def test_every_button_the_bot_sends_for_every_role(world: World) -> None:
    ids = Ids()
    cast = Cast(world, ids)
    [(_, tour_records)] = await cast.setup(["volunteer"], created_ago=timedelta(days=2))
    await add_victim(world, signed_up_for=tour_records.event_id)
    examples: dict[str, str] = {}
    fresh = _new_kinds(ids, await tour(world, cast), examples)
    wrong: list[str] = []
    for _round in range(MAX_ROUNDS):
        if not fresh:
            break
        wanted = [(kind, role) for kind in fresh for role in ROLES]
        made = await cast.setup([role for _, role in wanted])
        cells = [
            Cell(kind, member, records, records.fill(kind, examples[kind]))
            for (kind, _), (member, records) in zip(wanted, made, strict=True)
        ]
        before = await snapshots(world, cells)
        await press_all(world, cells)
        wrong += await _judge(world, cells, before)
        sent = buttons_by_chat(world.telegram)
        revealed = []
        for cell in cells:
            shown = sent.get(str(cell.chatter.chat_id), [])
            if shown and verdict(first_response(cell.chatter, 1)) == "refused":
                wrong.append(f"{cell.data} as {cell.role}: refused, yet buttons were shown")
            revealed += shown
        fresh = _new_kinds(ids, revealed, examples)
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


async def _judge(
    world: World, cells: Sequence[Cell], before: dict[int, dict[str, Any]]
) -> list[str]:
    """Check every cell of a round against the policy."""
    wrong = []
    for cell in cells:
        response = first_response(cell.chatter, 1)
        allowed = _allowed(cell.kind, cell.role)
        expected = {True: "allowed", False: "refused", None: verdict(response)}[allowed]
        if verdict(response) != expected:
            wrong.append(f"{cell.data} as {cell.role}: expected {expected}, got {response!r}")
    actors = {entry.actor_id for entry in await audit_entries(world)}
    after = await snapshots(world, cells)
    for cell in cells:
        allowed = _allowed(cell.kind, cell.role)
        audited = cell.person_id is None or cell.person_id in actors
        if allowed and cell.kind in AUDITED and not audited:
            wrong.append(f"{cell.data} as {cell.role}: done, yet not in the audit")
        if allowed is not False:
            continue
        if cell.person_id is not None and cell.person_id in actors:
            wrong.append(f"{cell.data} as {cell.role}: refused, yet audited as done")
        event_id = cell.records.event_id
        if after[event_id] != before[event_id]:
            wrong.append(f"{cell.data} as {cell.role}: refused, yet something changed")
        if files_to(cell.chatter):
            wrong.append(f"{cell.data} as {cell.role}: refused, yet a file was sent")
    return wrong


async def _oversized_ids(world: World, cast: Cast, kinds: list[str]) -> list[str]:
    """Every button with a record id, pressed by an admin with ids no record can have."""
    wanted = [(kind, oversized) for kind in kinds for oversized in OVERSIZED_IDS]
    members = await cast.people(["admin"] * len(wanted))
    cells = [
        Cell(
            kind,
            member,
            Records(0, 0),
            kind.format(event=big, announcement=big, person=big, version=big),
        )
        for (kind, big), member in zip(wanted, members, strict=True)
    ]
    await press_all(world, cells)
    wrong = []
    for cell in cells:
        response = first_response(cell.chatter, 1)
        if response in apologies() or response == "(silence)":
            wrong.append(f"{cell.data}: expected a polite answer, got {response!r}")
    return wrong


# ---------------------------------------------------------------------------------------------
# Particular cases


async def test_rescheduling_someone_elses_announcement_changes_nothing(world: World) -> None:
    cast = Cast(world, Ids())
    [(_, records)] = await cast.setup(["volunteer"])
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
    [(volunteer, records)] = await cast.setup(["volunteer"])
    chatter, person = volunteer.chatter, volunteer.person
    organiser, _ = await cast.person("organiser")
    assert person is not None
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
    [(_, records)] = await cast.setup(["volunteer"])
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
