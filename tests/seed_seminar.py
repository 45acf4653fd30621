"""A fast builder of the ministry's 351-person seminar, straight into the database.

The plan is spelled out in constants so that tests can state the figures the bot must report
(69 volunteers from zones 3 and 4, 200 agency officials, 82 speakers, civil servants, staff and
observers) without recomputing them the way the code under test does.

How people came, in the words of the reports (CONTRIBUTING.md, "Words"): every 32nd attendee
(11) is a walk-in whom staff entered at the door (no Telegram, no sign-up); the other 340
registered with the bot and signed up through /events; nine more registered and signed up but
never came. Options build the other cases: `walkins=False` makes the 11 people who registered
with the bot but never signed up (they check in themselves), `signups=False` the seminar of
issue 11, where all 351 registered with the bot and nobody signed up through /events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import SessionFactory, create_engine, session_factory
from storage.models import (
    CheckIn,
    CheckInMethod,
    District,
    Event,
    Person,
    Registration,
    RegistrationStatus,
)

# 08.00 in Bangkok on Wednesday 22 July 2020 (the ministry's seminar of 2563).
SEMINAR_START = datetime(2020, 7, 22, 1, 0, tzinfo=UTC)
SEMINAR_TITLE = "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร"
SEMINAR_VENUE = "โรงแรมมิราเคิล แกรนด์ คอนเวนชั่น"
SEMINAR_CODE = "SEM63"

# Volunteers: district -> (zone chairs, zone coordinators, taxi chairs, taxi coordinators,
# plain volunteers). Zone 3 districts first, then zone 4.
VOLUNTEER_PLAN: dict[str, tuple[int, int, int, int, int]] = {
    "1033": (1, 1, 0, 1, 9),  # Khlong Toei, zone 3: 12
    "1047": (0, 1, 0, 1, 6),  # Bang Na, zone 3: 8
    "1032": (0, 0, 0, 0, 6),  # Prawet, zone 3: 6
    "1009": (0, 0, 1, 1, 3),  # Phra Khanong, zone 3: 5
    "1039": (0, 0, 0, 0, 4),  # Watthana, zone 3: 4
    "1034": (0, 0, 0, 0, 4),  # Suan Luang, zone 3: 4  -> zone 3: 39
    "1043": (1, 1, 0, 1, 5),  # Khan Na Yao, zone 4: 8
    "1006": (0, 1, 0, 1, 7),  # Bang Kapi, zone 4: 9
    "1038": (0, 0, 0, 1, 4),  # Lat Phrao, zone 4: 5
    "1027": (0, 0, 0, 0, 4),  # Bueng Kum, zone 4: 4
    "1045": (0, 0, 0, 0, 4),  # Wang Thonglang, zone 4: 4  -> zone 4: 30
}
ROLE_ORDER = ("zone_chair", "zone_coordinator", "taxi_chair", "taxi_coordinator", "volunteer")
OFFICIAL_PLAN = {"ops": 40, "doe": 45, "dsd": 40, "dlpw": 40, "sso": 35}
OTHER_PLAN = {"speaker": 6, "civil_servant": 30, "staff": 36, "observer": 10}

# The /summary paragraph for the seminar, word for word (zone names from the zone file).
EXPECTED_SUMMARY_TH = (
    "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร เมื่อวันพุธที่ 22 กรกฎาคม 2563 "
    "ณ โรงแรมมิราเคิล แกรนด์ คอนเวนชั่น มีผู้เข้าร่วมทั้งหมด 351 คน ประกอบด้วย "
    "อาสาสมัครแรงงานจากโซน 3 (เขตคลองเตย เขตบางนา เขตประเวศ เขตพระโขนง เขตสวนหลวง "
    "และเขตวัฒนา) และโซน 4 (เขตบางกะปิ เขตคันนายาว เขตลาดพร้าว เขตบึงกุ่ม "
    "และเขตวังทองหลาง) จำนวน 69 คน เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน "
    "จำนวน 200 คน วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์ จำนวน 82 คน"
)
EXPECTED_SUMMARY_EN = (
    "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร was held on Wednesday 22 July 2020 "
    "at โรงแรมมิราเคิล แกรนด์ คอนเวนชั่น. 351 people took part: 69 labour volunteers from "
    "Zone 3 (Khlong Toei, Bang Na, Prawet, Phra Khanong, Suan Luang and Watthana) and "
    "Zone 4 (Bang Kapi, Khan Na Yao, Lat Phrao, Bueng Kum and Wang Thonglang), "
    "200 officials of Ministry of Labour agencies and "
    "82 speakers, civil servants, staff and observers."
)
# A coordinator of zone 4: the event's total first, then their zone's share and its breakdown.
EXPECTED_SUMMARY_ZONE_4_TH = (
    "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร เมื่อวันพุธที่ 22 กรกฎาคม 2563 "
    "ณ โรงแรมมิราเคิล แกรนด์ คอนเวนชั่น มีผู้เข้าร่วมทั้งหมด 351 คน ในจำนวนนี้มาจากโซน 4 "
    "30 คน ประกอบด้วย อาสาสมัครแรงงานจากโซน 4 (เขตบางกะปิ เขตคันนายาว เขตลาดพร้าว "
    "เขตบึงกุ่ม และเขตวังทองหลาง) จำนวน 30 คน"
)
EXPECTED_SUMMARY_ZONE_4_EN = (
    "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร was held on Wednesday 22 July 2020 "
    "at โรงแรมมิราเคิล แกรนด์ คอนเวนชั่น. 351 people took part, 30 of them from Zone 4: "
    "30 labour volunteers from Zone 4 (Bang Kapi, Khan Na Yao, Lat Phrao, Bueng Kum and "
    "Wang Thonglang)."
)
EXPECTED_SUMMARY_NOBODY_TH = (
    "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร เมื่อวันพุธที่ 22 กรกฎาคม 2563 "
    "ณ โรงแรมมิราเคิล แกรนด์ คอนเวนชั่น ยังไม่มีผู้เช็กอิน"
)

# What the bot must report for the plan above.
EXPECTED_GROUPS = {"volunteers": 69, "officials": 200, "others": 82}
EXPECTED_TOTAL = 351
EXPECTED_ZONES = {3: 39, 4: 30}
EXPECTED_ROLES = {
    "zone_chair": 2,
    "zone_coordinator": 4,
    "taxi_chair": 1,
    "taxi_coordinator": 6,
    "volunteer": 56,
}
EXPECTED_DISTRICTS = {code: sum(counts) for code, counts in VOLUNTEER_PLAN.items()}
# Every 25th attendee is late, every 32nd came as a walk-in entered by staff (or, with
# walkins=False, registered with the bot but never signed up); nine volunteers registered and
# signed up, and never came.
LATE_EVERY = 25
WALKIN_EVERY = 32
NO_SHOWS = 9
CAPACITY = 400
WALKINS = len(range(0, EXPECTED_TOTAL, WALKIN_EVERY))  # 11
# Arrivals who registered with the bot themselves, and sign-ups (those who came, and all).
REGISTERED = EXPECTED_TOTAL - WALKINS  # 340
SIGNED_UP_ARRIVED = EXPECTED_TOTAL - WALKINS  # 340
SIGNED_UP = SIGNED_UP_ARRIVED + NO_SHOWS  # 349
LATE = len(range(0, EXPECTED_TOTAL, LATE_EVERY))  # 15


@asynccontextmanager
async def sessions_for(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on a test database; the engine is closed afterwards."""
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@dataclass
class Seminar:
    """What the builder made: the event and the people, in plan order."""

    event: Event
    attendees: list[Person] = field(default_factory=list)
    no_shows: list[Person] = field(default_factory=list)

    @property
    def walkins(self) -> int:
        """How many attendees staff entered at the door (none when built with walkins=False)."""
        return sum(1 for person in self.attendees if person.is_walkin)

    @property
    def late(self) -> int:
        """How many attendees arrived late."""
        return len(range(0, len(self.attendees), LATE_EVERY))


def plan_people() -> list[Person]:
    """The 351 attendees, unsaved, in a stable order: volunteers, officials, the rest."""
    # (name prefix, participant type, district, role, agency) for each attendee, in order.
    plan: list[tuple[str, str, str | None, str | None, str | None]] = []
    for code, counts in VOLUNTEER_PLAN.items():
        for role, count in zip(ROLE_ORDER, counts, strict=True):
            plan += [("อาสา", "volunteer", code, role, None)] * count
    for agency, count in OFFICIAL_PLAN.items():
        plan += [("เจ้าหน้าที่", "official", None, None, agency)] * count
    for kind, count in OTHER_PLAN.items():
        plan += [("ผู้เข้าร่วม", kind, None, None, None)] * count
    return [
        Person(
            full_name=f"{prefix} {number}",
            phone=f"+668{number:08d}",  # stored as E.164, as the bot stores numbers
            participant_type=kind,
            district_code=district,
            volunteer_role=role,
            agency=agency,
        )
        for number, (prefix, kind, district, role, agency) in enumerate(plan, start=1)
    ]


async def ensure_districts(session: AsyncSession, zones: Mapping[int, Sequence[str]]) -> None:
    """Insert the districts the plan uses when the table is still empty (unit tests)."""
    existing = await session.get(District, "1033")
    if existing is not None:
        return
    names = {
        "1033": ("คลองเตย", "Khlong Toei"),
        "1047": ("บางนา", "Bang Na"),
        "1032": ("ประเวศ", "Prawet"),
        "1009": ("พระโขนง", "Phra Khanong"),
        "1039": ("วัฒนา", "Watthana"),
        "1034": ("สวนหลวง", "Suan Luang"),
        "1043": ("คันนายาว", "Khan Na Yao"),
        "1006": ("บางกะปิ", "Bang Kapi"),
        "1038": ("ลาดพร้าว", "Lat Phrao"),
        "1027": ("บึงกุ่ม", "Bueng Kum"),
        "1045": ("วังทองหลาง", "Wang Thonglang"),
        "1001": ("พระนคร", "Phra Nakhon"),
    }
    zone_of = {code: zone for zone, codes in zones.items() for code in codes}
    for code, (th, en) in names.items():
        session.add(District(code=code, name_th=th, name_en=en, zone=zone_of.get(code)))
    await session.flush()


ZONES = {
    3: ("1033", "1047", "1032", "1009", "1039", "1034"),
    4: ("1043", "1006", "1038", "1027", "1045"),
}


async def seed_seminar(
    session: AsyncSession,
    *,
    starts_at: datetime = SEMINAR_START,
    telegram_ids: Sequence[int] | None = None,
    check_in: bool = True,
    code: str = SEMINAR_CODE,
    walkins: bool = True,
    signups: bool = True,
) -> Seminar:
    """Build the seminar: event, 351 attendees (+ no-shows), sign-ups and check-ins.

    `walkins`: every 32nd attendee was entered by staff at the door (only with check_in: a
    walk-in does not check in by themselves); else they registered with the bot, unsigned up.
    `signups`: the others signed up through /events (else nobody did, the no-shows included).
    """
    await ensure_districts(session, ZONES)
    event = Event(
        title=SEMINAR_TITLE,
        venue=SEMINAR_VENUE,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=8),
        capacity=CAPACITY,
        code=code,
        token=f"tok-{code}",
    )
    session.add(event)
    people = plan_people()
    if telegram_ids is not None:
        for person, telegram_id in zip(people, telegram_ids, strict=False):
            person.telegram_id = telegram_id
    walkins = walkins and check_in
    for index, person in enumerate(people):
        if walkins and index % WALKIN_EVERY == 0:
            person.is_walkin = True
            person.telegram_id = None
    no_shows = [
        Person(
            full_name=f"ไม่มา {i}",
            participant_type="volunteer",
            district_code="1033",
            volunteer_role="volunteer",
        )
        for i in range(NO_SHOWS)
    ]
    await session.flush()
    assert event.id is not None
    await insert_all(session, people + no_shows)
    seminar = Seminar(event=event, attendees=people, no_shows=no_shows)
    rows: list[SQLModel] = []
    for index, person in enumerate(people):
        assert person.id is not None
        if signups and index % WALKIN_EVERY != 0:
            rows.append(Registration(event_id=event.id, person_id=person.id))
        if check_in:
            rows.append(checkin_for(event, person, index))
    for person in no_shows if signups else ():
        assert person.id is not None
        rows.append(
            Registration(
                event_id=event.id, person_id=person.id, status=RegistrationStatus.REGISTERED
            )
        )
    await insert_all(session, [row for row in rows if isinstance(row, Registration)])
    await insert_all(session, [row for row in rows if isinstance(row, CheckIn)])
    return seminar


async def insert_all(session: AsyncSession, records: Sequence[SQLModel]) -> None:
    """Insert records of one table in one statement, and give each its id.

    The ORM inserts them one by one on SQLite; with 40 ms added to every statement
    (ASA_DB_LATENCY_MS) the seminar's thousand rows took 45 s to build. The rows go in with
    one executemany, in order, in this session's transaction (nothing else writes meanwhile in
    a test), so their ids are the next ones, ascending; the records are then the session's.
    """
    if not records:
        return
    table: Any = type(records[0]).__table__  # type: ignore[attr-defined]
    before = (await session.exec(select(func.coalesce(func.max(table.c.id), 0)))).one()
    values = [record.model_dump(exclude={"id"}) for record in records]
    await session.exec(insert(table), params=values)
    ids = await session.exec(select(table.c.id).where(table.c.id > before).order_by(table.c.id))
    for record, new_id in zip(records, ids.all(), strict=True):
        record.id = new_id  # type: ignore[attr-defined]
        # Now a stored row the session knows: a test's later change to it is an UPDATE.
        make_transient_to_detached(record)
        session.add(record)


def checkin_for(event: Event, person: Person, index: int) -> CheckIn:
    """The planned check-in of the index-th attendee: arrivals spread over 90 minutes."""
    assert event.id is not None
    assert person.id is not None
    walkin = person.is_walkin
    late = index % LATE_EVERY == 0
    # From 45 minutes before the start, one arrival every 7 seconds; the late ones after it.
    offset = timedelta(minutes=-45, seconds=index * 7)
    if late:
        offset = timedelta(minutes=20 + index % 30)
    return CheckIn(
        event_id=event.id,
        person_id=person.id,
        checked_in_at=event.starts_at + offset,
        method=CheckInMethod.WALKIN if walkin else CheckInMethod.CODE,
        late=late,
    )
