"""Exports: the CSV (read back with csv) and the XLSX (read back with openpyxl), through the
use cases (one transaction each, the audit entry in it)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlmodel import select

from bot.i18n import translator
from bot.scope import Actor
from bot.services import exports
from bot.services.access import Access
from bot.services.errors import NotAllowed
from bot.usecases import reports
from bot.usecases.reports import Labels
from storage.database import Database, SessionFactory
from storage.models import AuditEntry, CheckIn, Person, Role
from tests import seed_seminar as seed

BANGKOK = ZoneInfo("Asia/Bangkok")
ZONES = {3: "โซน 3", 4: "โซน 4"}
NOW = datetime(2020, 7, 22, 9, 0, tzinfo=UTC)


def organiser(person_id: int | None = None) -> Access:
    """An organiser (sees phone numbers)."""
    return Access(
        person_id=person_id, roles=frozenset({Role.ORGANISER}), coordinator_zones=frozenset()
    )


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on this test's database."""
    async with seed.sessions_for(database_url) as factory:
        yield factory


@pytest.fixture
async def seminar(sessions: SessionFactory) -> seed.Seminar:
    """The seminar; the first volunteer erased, the second checked in by the third."""
    async with sessions() as session:
        built = await seed.seed_seminar(session)
        first, second, third = built.attendees[:3]
        first.full_name = None
        first.phone = None
        first.erased_at = NOW
        session.add(first)
        row = (await session.exec(select(CheckIn).where(CheckIn.person_id == second.id))).one()
        row.performed_by_id = third.id
        row.method = "staff"
        row.checked_out_at = NOW
        session.add(row)
        await session.commit()
    return built


def actor(access: Access) -> Actor:
    """Whoever asks, with the given rights."""
    return Actor(telegram_id=1, person_id=access.person_id, access=access)


async def export(
    sessions: SessionFactory,
    seminar: seed.Seminar,
    lang: str = "th",
    access: Access | None = None,
    zone_names: dict[int, str] | None = None,
) -> exports.ExportFiles:
    """The attendee export as the given viewer."""
    assert seminar.event.id is not None
    labels = Labels(translator(lang), BANGKOK, ZONES if zone_names is None else zone_names)
    return await reports.export_event_of(
        Database(sessions),
        actor=actor(access or organiser()),
        event_id=seminar.event.id,
        labels=labels,
        now=NOW,
    )


async def edit_person(sessions: SessionFactory, person: Person, **fields: object) -> None:
    """Change a stored person's fields."""
    async with sessions() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        for name, value in fields.items():
            setattr(stored, name, value)
        session.add(stored)
        await session.commit()


def read_csv(data: bytes) -> list[list[str]]:
    """The CSV as Excel would read it: BOM first, then UTF-8."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_the_csv_has_one_row_per_attendee(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    files = await export(sessions, seminar)
    rows = read_csv(files.csv)
    header, body = rows[0], rows[1:]
    assert header == [
        "ชื่อ-นามสกุล",
        "ประเภทผู้เข้าร่วม",
        "หน่วยงาน",
        "โซน",
        "เขต",
        "บทบาท",
        "เบอร์โทรศัพท์",
        "เวลาเช็กอิน",
        "วิธีเช็กอิน",
        "มาสาย",
        "เวลาเช็กเอาต์",
        "เช็กอินให้โดย",
        "ลงชื่อร่วมงาน",
        "มาหน้างาน",
    ]
    assert len(body) == files.rows == 351
    by_name = {row[0]: row for row in body}
    # The second attendee: a zone coordinator of Khlong Toei, checked in by the third.
    second = by_name["อาสา 2"]
    assert second == [
        "อาสา 2",
        "อาสาสมัครแรงงาน",
        "",
        "โซน 3",
        "คลองเตย",
        "ผู้ประสานงานโซน",
        "080-000-0002",
        "22 ก.ค. 63 07.15 น.",
        "ทีมงานเช็กอินให้",
        "ไม่",
        "22 ก.ค. 63 16.00 น.",
        "อาสา 3",
        "ใช่",
        "ไม่",
    ]
    official = by_name["เจ้าหน้าที่ 70"]
    assert official[1:4] == ["เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน", "สำนักงานปลัดกระทรวงแรงงาน", ""]
    # The erased volunteer still counts, anonymously: no name, no phone, zone and role kept.
    erased = [row for row in body if row[0] == "(ลบข้อมูลส่วนบุคคลแล้ว)"]
    assert len(erased) == 1
    assert erased[0][3:7] == ["โซน 3", "คลองเตย", "ประธานโซน", ""]
    assert erased[0][9] == "ใช่"  # the first attendee is one of the late ones
    assert sum(1 for row in body if row[8] == "มาหน้างาน") == seminar.walkins
    # The figures of the headcount, row by row: 11 walk-ins, 340 who signed up and came.
    assert sum(1 for row in body if row[13] == "ใช่") == seed.WALKINS
    assert sum(1 for row in body if row[12] == "ใช่") == seed.SIGNED_UP_ARRIVED


async def test_the_xlsx_has_attendees_and_the_headcount(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    files = await export(sessions, seminar, lang="en", zone_names={})
    book = openpyxl.load_workbook(io.BytesIO(files.xlsx), read_only=True)
    try:
        assert book.sheetnames == ["Attendees", "Headcount"]
        attendees = [list(row) for row in book["Attendees"].iter_rows(values_only=True)]
        assert attendees[0][:3] == ["Name", "Participant type", "Agency"]
        assert len(attendees) == 352
        official = ["Official of a Ministry of Labour agency", "Department of Employment"]
        assert official in [r[1:3] for r in attendees]
        # Times are real date cells in Bangkok time, so a spreadsheet can sort them.
        second = next(row for row in attendees if row[0] == "อาสา 2")
        assert second[7] == datetime(2020, 7, 22, 7, 15, 7)  # noqa: DTZ001 (Excel has no zones)
        assert second[10] == datetime(2020, 7, 22, 16, 0)  # noqa: DTZ001
        assert second[6] == "080-000-0002"
        sheet = [list(row) for row in book["Headcount"].iter_rows(values_only=True)]
    finally:
        book.close()
    table = {row[0]: row[1:] for row in sheet if row and row[0] is not None}
    assert table["Arrived in all"][0] == 351
    assert table["Here now"][0] == 350
    assert table["Registered with the bot"][0] == seed.REGISTERED
    assert table["Walk-ins"][0] == seed.WALKINS
    assert table["Signed up"][0] == seed.SIGNED_UP
    assert table["Signed up and came"][0] == seed.SIGNED_UP_ARRIVED
    assert table["Signed up, not yet here"][0] == seed.NO_SHOWS
    assert table["Labour volunteers"][0] == 69
    assert table["Officials of Ministry of Labour agencies"][0] == 200
    assert table["Speakers, civil servants, staff and observers"][0] == 82
    assert table["Total"][0] == 351
    assert table["Zone chair"][0] == 2
    assert table["Taxi-network coordinator"][0] == 6
    assert table["Social Security Office"][0] == 35
    assert table["Official of a Ministry of Labour agency"][0] == 200
    assert table["Civil servant"][0] == 30
    assert table["Observer"][0] == 10
    zone_rows = [row for row in sheet if row and row[0] in ("Zone 3", "Zone 4")]
    assert ["Zone 3", None, 39] in [r[:3] for r in zone_rows]
    assert ["Zone 4", "Bang Kapi", 9] in [r[:3] for r in zone_rows]


async def test_exports_are_audited_without_personal_data(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    await export(sessions, seminar, access=organiser(person_id=seminar.attendees[5].id))
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry))).all()
    assert [(e.action, e.target_id) for e in entries] == [
        ("export.attendees", str(seminar.event.id))
    ]
    assert entries[0].actor_id == seminar.attendees[5].id
    assert entries[0].detail == {"rows": 351, "phones": True}


async def test_only_admins_and_organisers_may_export(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    coordinator = Access(
        person_id=1, roles=frozenset({Role.COORDINATOR}), coordinator_zones=frozenset({3})
    )
    with pytest.raises(NotAllowed):
        await export(sessions, seminar, access=coordinator)
    async with sessions() as session:
        assert (await session.exec(select(AuditEntry))).all() == []


async def test_names_never_become_formulas(sessions: SessionFactory, seminar: seed.Seminar) -> None:
    await edit_person(sessions, seminar.attendees[10], full_name='=HYPERLINK("http://x")')
    files = await export(sessions, seminar)
    names = [row[0] for row in read_csv(files.csv)]
    assert '\'=HYPERLINK("http://x")' in names


async def test_the_volunteer_roster(sessions: SessionFactory, seminar: seed.Seminar) -> None:
    files = await reports.export_volunteers(
        Database(sessions),
        actor=actor(organiser()),
        labels=Labels(translator("th"), BANGKOK, ZONES),
        now=NOW,
    )
    rows = read_csv(files.csv)
    assert rows[0] == [
        "ชื่อ-นามสกุล",
        "บทบาท",
        "โซน",
        "เขต",
        "เบอร์โทรศัพท์",
        "ชื่อผู้ใช้ Telegram",
        "วันที่ลงทะเบียน",
        "มาหน้างาน",
    ]
    # 69 volunteers who came and 9 who did not, minus the one who was erased.
    assert files.rows == len(rows) - 1 == 69 + seed.NO_SHOWS - 1
    assert all(row[2] in ("โซน 3", "โซน 4") for row in rows[1:])
    second = ["อาสา 2", "ผู้ประสานงานโซน", "โซน 3", "คลองเตย", "080-000-0002"]
    assert second in [r[:5] for r in rows]
    # Two of the volunteers were walk-ins (the first, erased, was a third).
    assert sum(1 for row in rows[1:] if row[7] == "ใช่") == 2
    book = openpyxl.load_workbook(io.BytesIO(files.xlsx), read_only=True)
    try:
        assert book.sheetnames == ["อาสาสมัคร"]
        assert len(list(book["อาสาสมัคร"].iter_rows(values_only=True))) == len(rows)
    finally:
        book.close()
    # Dates show in the Buddhist era in Thai Excel.
    full = openpyxl.load_workbook(io.BytesIO(files.xlsx))
    registered = full["อาสาสมัคร"].cell(row=2, column=7)
    assert isinstance(registered.value, datetime)
    assert registered.number_format == "[$-th-TH,107]d mmm yy hh:mm"


async def test_phones_read_as_people_write_them_in_text_cells(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    """Issue 11 §9: 081-234-5678, not +66812345678; a text cell, so no spreadsheet turns it
    into a number (dropping the leading zero) or reads a "+" as the start of a formula."""
    await edit_person(sessions, seminar.attendees[3], phone="+66812345678")
    files = await export(sessions, seminar)
    by_name = {row[0]: row for row in read_csv(files.csv)}
    assert by_name["อาสา 4"][6] == "081-234-5678"
    assert not [row for row in by_name.values() if row[6].startswith("+66")]
    book = openpyxl.load_workbook(io.BytesIO(files.xlsx))
    try:
        sheet = book["ผู้เข้าร่วม"]
        cell = next(row[6] for row in sheet.iter_rows(min_row=2) if row[0].value == "อาสา 4")
        assert (cell.value, cell.data_type) == ("081-234-5678", "s")
    finally:
        book.close()


async def test_a_merged_away_record_is_not_listed(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    """Headcounts count people, and so do the lists: a record merged into another is gone."""
    await edit_person(sessions, seminar.attendees[4], merged_into_id=seminar.attendees[5].id)
    files = await export(sessions, seminar)
    names = [row[0] for row in read_csv(files.csv)[1:]]
    assert files.rows == len(names) == 350
    assert "อาสา 5" not in names
    roster = await reports.export_volunteers(
        Database(sessions),
        actor=actor(organiser()),
        labels=Labels(translator("th"), BANGKOK, ZONES),
        now=NOW,
    )
    assert roster.rows == 69 + seed.NO_SHOWS - 1 - 1
