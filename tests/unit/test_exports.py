"""Exports: the CSV (read back with csv) and the XLSX (read back with openpyxl)."""

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
from bot.services import exports
from bot.services.access import Access
from bot.services.errors import NotAllowed
from storage.database import SessionFactory
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


async def export(
    sessions: SessionFactory,
    seminar: seed.Seminar,
    lang: str = "th",
    access: Access | None = None,
    zone_names: dict[int, str] | None = None,
) -> exports.ExportFiles:
    """The attendee export as the given viewer."""
    assert seminar.event.id is not None
    async with sessions() as session:
        return await exports.export_attendees(
            session=session,
            access=access or organiser(),
            event_id=seminar.event.id,
            t=translator(lang),
            tz=BANGKOK,
            zone_names=ZONES if zone_names is None else zone_names,
            now=NOW,
        )


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
        "เวลาลงชื่อเข้างาน",
        "วิธีลงชื่อ",
        "มาสาย",
        "เวลาลงชื่อออก",
        "ผู้ลงชื่อให้",
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
        "0800000002",
        "22 ก.ค. 63 07.15 น.",
        "เจ้าหน้าที่ลงชื่อให้",
        "ไม่",
        "22 ก.ค. 63 16.00 น.",
        "อาสา 3",
    ]
    official = by_name["เจ้าหน้าที่ 70"]
    assert official[1:4] == ["เจ้าหน้าที่หน่วยงานในสังกัด", "สำนักงานปลัดกระทรวงแรงงาน", ""]
    # The erased volunteer still counts, anonymously: no name, no phone, zone and role kept.
    erased = [row for row in body if row[0] == "(ลบข้อมูลส่วนบุคคลแล้ว)"]
    assert len(erased) == 1
    assert erased[0][3:7] == ["โซน 3", "คลองเตย", "ประธานโซน", ""]
    assert erased[0][9] == "ใช่"  # the first attendee is one of the late ones
    assert sum(1 for row in body if row[8] == "มาหน้างาน") == seminar.walkins


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
        assert ["Agency official", "Department of Employment"] in [r[1:3] for r in attendees]
        # Times are real date cells in Bangkok time, so a spreadsheet can sort them.
        second = next(row for row in attendees if row[0] == "อาสา 2")
        assert second[7] == datetime(2020, 7, 22, 7, 15, 7)  # noqa: DTZ001 (Excel has no zones)
        assert second[10] == datetime(2020, 7, 22, 16, 0)  # noqa: DTZ001
        sheet = [list(row) for row in book["Headcount"].iter_rows(values_only=True)]
    finally:
        book.close()
    table = {row[0]: row[1:] for row in sheet if row and row[0] is not None}
    assert table["Arrived in all"][0] == 351
    assert table["Here now"][0] == 350
    assert table["Labour volunteers"][0] == 69
    assert table["Officials of the ministry's agencies"][0] == 200
    assert table["Speakers, civil servants, staff and observers"][0] == 82
    assert table["Total"][0] == 351
    assert table["Zone chair"][0] == 2
    assert table["Taxi-network coordinator"][0] == 6
    assert table["Social Security Office"][0] == 35
    assert table["Agency official"][0] == 200
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
    async with sessions() as session:
        person = await session.get(Person, seminar.attendees[10].id)
        assert person is not None
        person.full_name = '=HYPERLINK("http://x")'
        session.add(person)
        await session.commit()
    files = await export(sessions, seminar)
    names = [row[0] for row in read_csv(files.csv)]
    assert '\'=HYPERLINK("http://x")' in names


async def test_the_volunteer_roster(sessions: SessionFactory, seminar: seed.Seminar) -> None:
    async with sessions() as session:
        files = await exports.export_volunteers(
            session=session,
            access=organiser(),
            t=translator("th"),
            tz=BANGKOK,
            zone_names=ZONES,
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
    ]
    # 69 volunteers who came and 9 who did not, minus the one who was erased.
    assert files.rows == len(rows) - 1 == 69 + seed.NO_SHOWS - 1
    assert all(row[2] in ("โซน 3", "โซน 4") for row in rows[1:])
    assert ["อาสา 2", "ผู้ประสานงานโซน", "โซน 3", "คลองเตย", "0800000002"] in [r[:5] for r in rows]
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
