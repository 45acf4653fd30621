"""Exports for organisers: attendee lists and the volunteer roster as CSV and XLSX.

CSV is written as UTF-8 with a byte-order mark, so Excel opens Thai names correctly; the XLSX
workbook (openpyxl, write-only so rows stream) has the attendees and the headcount tables.
Rows are read from the database in batches, never all at once. Every export is audited, and
phone numbers appear only for admins and organisers, written as Thai people write them
(081-234-5678), in text cells. Types, roles and agencies are named by their terms
(bot/i18n/terms.py), as in /headcount and /summary; a record merged into another is not listed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import Translator, terms
from bot.i18n.dates import format_datetime, to_local
from bot.services import audit
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.headcount import (
    AGENCY_ORDER,
    GROUPS,
    ROLE_ORDER,
    AnySelect,
    Headcount,
    arrivals_sign_up,
    count_event,
    counted_person,
    event_by_id,
)
from bot.services.summary import zone_label
from bot.services.validation import format_phone
from storage.models import (
    Agency,
    CheckIn,
    District,
    Event,
    ParticipantType,
    Person,
    Registration,
    VolunteerRole,
)

BATCH = 500
# What one cell of an export holds: text, or a moment shown in the reader's time zone.
Cell = str | datetime
# A cell starting with one of these is a formula to Excel: names are data, never formulas.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel's limit on a sheet name.
SHEET_NAME_MAX = 31


@dataclass(frozen=True)
class ExportFiles:
    """One export in both formats."""

    stem: str
    title: str
    csv: bytes
    xlsx: bytes
    rows: int


@dataclass(frozen=True)
class Labels:
    """What an export needs to turn stored values into words: the reader's language, time
    zone and zone names."""

    t: Translator
    tz: ZoneInfo
    zone_names: Mapping[int, str]

    def _term(self, kind: type[StrEnum], key: Callable[[str], str], raw: str | None) -> str:
        """A stored value by its term; one this version does not know, as it is."""
        if raw and raw in kind._value2member_map_:
            return self.t(key(raw))
        return raw or ""

    def participant_type(self, raw: str | None) -> str:
        """A participant type by its term."""
        return self._term(ParticipantType, terms.participant_type, raw)

    def role(self, raw: str | None) -> str:
        """A volunteer role by its term."""
        return self._term(VolunteerRole, terms.volunteer_role, raw)

    def agency(self, raw: str | None) -> str:
        """An agency by its term."""
        return self._term(Agency, terms.agency, raw)

    def method(self, raw: str | None) -> str:
        """How a person was checked in, in words."""
        if not raw:
            return ""
        key = f"report.method.{raw}"
        return self.t(key) if self.t.has(key) else raw

    def moment(self, at: datetime | None) -> str:
        """A time in the deployment's zone, the way the person reads dates."""
        return (
            "" if at is None else format_datetime(at, lang=self.t.lang, tz=self.tz, style="short")
        )

    def zone(self, zone: int | None, district: str | None) -> str:
        """The zone's name, blank for someone with no district."""
        return "" if district is None else zone_label(self.t, zone, self.zone_names)

    def district(self, name_th: str | None, name_en: str | None) -> str:
        """The district's name in the reader's language."""
        return (name_th if self.t.lang == "th" else name_en) or ""

    def yes_no(self, flag: bool) -> str:
        """A boolean in words."""
        return self.t("report.export.yes") if flag else self.t("report.export.no")


def _phone(phone: str | None) -> str:
    """A stored (E.164) number as people write it, never read as a formula."""
    return _text(format_phone(phone)) if phone else ""


def _attendee_query(event_id: int) -> AnySelect:
    """One row per attendee with everything the export shows, in order of arrival."""
    performer = aliased(Person)
    return (
        sql_select(
            col(Person.full_name),
            col(Person.phone),
            col(Person.participant_type),
            col(Person.agency),
            col(District.zone),
            col(Person.district_code),
            col(District.name_th),
            col(District.name_en),
            col(Person.volunteer_role),
            col(CheckIn.checked_in_at),
            col(CheckIn.method),
            col(CheckIn.late),
            col(CheckIn.checked_out_at),
            col(performer.full_name),
            col(CheckIn.performed_by_id),
            col(Person.erased_at),
            col(Registration.id).is_not(None),
            col(Person.is_walkin),
        )
        .select_from(CheckIn)
        .join(Person, counted_person(CheckIn.person_id))
        .outerjoin(District, col(District.code) == Person.district_code)
        .outerjoin(performer, col(performer.id) == CheckIn.performed_by_id)
        .outerjoin(Registration, arrivals_sign_up())
        .where(col(CheckIn.event_id) == event_id)
        .order_by(col(CheckIn.checked_in_at), col(CheckIn.id))
    )


def _attendee_header(labels: Labels, *, phones: bool) -> list[str]:
    """Column titles of the attendee sheet."""
    t = labels.t
    names = ["name", "type", "agency", "zone", "district", "role"]
    names += ["phone"] if phones else []
    names += ["checked_in_at", "method", "late", "checked_out_at", "checked_in_by"]
    names += ["signed_up", "walkin"]
    return [t(f"report.column.{name}") for name in names]


def _attendee_row(labels: Labels, row: Sequence[Any], *, phones: bool) -> list[Cell]:
    """One attendee in words; an erased person stays, without name or phone."""
    (name, phone, kind, agency, zone, district, name_th, name_en, role) = row[:9]
    (checked_in_at, method, late, checked_out_at, performer, performer_id, erased_at) = row[9:16]
    signed_up, walkin = row[16:]
    shown_name = labels.t("report.export.erased") if erased_at is not None else _text(name)
    by = _text(performer) or (f"#{performer_id}" if performer_id is not None else "")
    cells: list[Cell] = [
        shown_name,
        labels.participant_type(kind),
        labels.agency(agency),
        labels.zone(zone, district),
        labels.district(name_th, name_en),
        labels.role(role),
    ]
    if phones:
        cells.append("" if erased_at is not None else _phone(phone))
    cells += [
        checked_in_at,
        labels.method(method),
        labels.yes_no(bool(late)),
        checked_out_at or "",
        by,
        labels.yes_no(bool(signed_up)),
        labels.yes_no(bool(walkin)),
    ]
    return cells


async def _stream(session: AsyncSession, stmt: AnySelect) -> AsyncIterator[Sequence[Any]]:
    """Rows of a query, fetched from the database a batch at a time."""
    connection = await session.connection()
    result = await connection.stream(stmt)
    async for batch in result.partitions(BATCH):
        for row in batch:
            yield tuple(row)


class _Writers:
    """A CSV and a write-only workbook filled side by side, row by row.

    Times go into the CSV as words people read and into the workbook as real date cells, so a
    spreadsheet can sort and filter them (shown in the Buddhist era for Thai readers).
    """

    def __init__(self, labels: Labels, sheet_title: str, title: str) -> None:
        self.labels = labels
        self.title = title
        self.text = io.StringIO()
        self.csv = csv.writer(self.text)
        # openpyxl is loaded on the first export, not at start-up (it costs about 17 MiB).
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(_sheet_name(sheet_title))
        self.rows = 0

    def header(self, cells: list[str]) -> None:
        """The title row."""
        self.csv.writerow(cells)
        self.sheet.append(cells)

    def row(self, cells: Sequence[Cell]) -> None:
        """One data row."""
        self.csv.writerow([self.labels.moment(c) if isinstance(c, datetime) else c for c in cells])
        self.sheet.append([self._cell(c) for c in cells])
        self.rows += 1

    def _cell(self, value: Cell) -> object:
        """A workbook cell: text as it is, a time as a local date-time cell."""
        if not isinstance(value, datetime):
            return value
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(self.sheet, value=to_local(value, self.labels.tz).replace(tzinfo=None))
        cell.number_format = self.labels.t("report.export.date_format")
        return cell

    def finish(self, stem: str) -> ExportFiles:
        """Both files as bytes; the CSV with a byte-order mark for Excel."""
        out = io.BytesIO()
        self.book.save(out)
        return ExportFiles(
            stem=stem,
            title=self.title,
            csv=self.text.getvalue().encode("utf-8-sig"),
            xlsx=out.getvalue(),
            rows=self.rows,
        )


def _text(value: str | None) -> str:
    """Free text a person typed, made safe from being read as a spreadsheet formula."""
    if not value:
        return ""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _sheet_name(title: str) -> str:
    """A title Excel accepts as a sheet name."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in title)
    return cleaned[:SHEET_NAME_MAX] or "Sheet"


async def export_attendees(
    *,
    session: AsyncSession,
    access: Access,
    event_id: int,
    t: Translator,
    tz: ZoneInfo,
    zone_names: Mapping[int, str],
    now: datetime,
) -> ExportFiles:
    """Every attendee of an event, and its headcount tables; audited."""
    access.require(Capability.EXPORT)
    event = await event_by_id(session=session, event_id=event_id)
    phones = access.unscoped
    labels = Labels(t=t, tz=tz, zone_names=zone_names)
    writers = _Writers(labels, t("report.export.sheet_attendees"), event.title)
    writers.header(_attendee_header(labels, phones=phones))
    async for row in _stream(session, _attendee_query(event_id)):
        writers.row(_attendee_row(labels, row, phones=phones))
    result = await count_event(session=session, event=event, zone_limit=None)
    summary = writers.book.create_sheet(_sheet_name(t("report.export.sheet_headcount")))
    for cells in headcount_table(result, labels):
        summary.append(cells)
    await _audited(session, access, AuditAction.EXPORT_ATTENDEES, now, writers, event_id=event_id)
    return writers.finish(_stem(event))


def _stem(event: Event) -> str:
    """A file name people recognise: the event's code."""
    safe = "".join(ch for ch in event.code if ch.isascii() and ch.isalnum())
    return f"asa-{safe or event.id}"


def headcount_table(result: Headcount, labels: Labels) -> Iterable[list[Any]]:
    """The headcount as rows of a sheet: a title row, then one table after another."""
    t = labels.t
    yield [result.event.title]
    yield [t("report.column.arrived"), result.arrived]
    yield [t("report.column.present"), result.present]
    yield [t("report.column.late"), result.late]
    yield [t("report.column.registered"), result.registered]
    yield [t("report.column.walkins"), result.walkins]
    yield [t("report.column.signed_up"), result.signed_up]
    yield [t("report.column.signed_up_arrived"), result.signed_up_arrived]
    yield [t("report.column.not_arrived"), result.not_arrived]
    yield [t("report.column.capacity"), result.event.capacity or ""]
    yield []
    yield [t("report.column.group"), t("report.column.people")]
    for group in GROUPS:
        yield [t(terms.group(group)), result.groups.get(group, 0)]
    yield [t("report.column.total"), result.total]
    yield []
    yield [t("report.column.type"), t("report.column.people")]
    for kind in ParticipantType:
        yield [labels.participant_type(kind.value), result.types.get(kind.value, 0)]
    yield []
    yield [t("report.column.role"), t("report.column.people")]
    for role in ROLE_ORDER:
        yield [labels.role(role), result.roles.get(role, 0)]
    yield []
    yield [t("report.column.zone"), t("report.column.district"), t("report.column.people")]
    for zone in result.zones:
        name = zone_label(t, zone.zone, labels.zone_names)
        yield [name, "", zone.count]
        for district in zone.districts:
            yield [name, district.name(t.lang), district.count]
    yield []
    yield [t("report.column.agency"), t("report.column.people")]
    for agency in AGENCY_ORDER:
        yield [labels.agency(agency), result.agencies.get(agency, 0)]
    yield []
    yield [t("report.column.time"), t("report.column.people")]
    for slot, people in result.arrivals:
        yield [labels.moment(slot), people]


def _roster_query() -> AnySelect:
    """Volunteers (not erased, not merged into another record), by zone, district and name."""
    return (
        sql_select(
            col(Person.full_name),
            col(Person.volunteer_role),
            col(District.zone),
            col(Person.district_code),
            col(District.name_th),
            col(District.name_en),
            col(Person.phone),
            col(Person.telegram_username),
            col(Person.registered_at),
            col(Person.is_walkin),
        )
        .select_from(Person)
        .outerjoin(District, col(District.code) == Person.district_code)
        .where(
            col(Person.participant_type) == ParticipantType.VOLUNTEER,
            col(Person.erased_at).is_(None),
            col(Person.merged_into_id).is_(None),
        )
        .order_by(col(District.zone), col(Person.district_code), col(Person.full_name))
    )


async def export_volunteers(
    *,
    session: AsyncSession,
    access: Access,
    t: Translator,
    tz: ZoneInfo,
    zone_names: Mapping[int, str],
    now: datetime,
) -> ExportFiles:
    """The volunteer roster, for admins and organisers; audited."""
    access.require(Capability.EXPORT)
    phones = access.unscoped
    labels = Labels(t=t, tz=tz, zone_names=zone_names)
    writers = _Writers(
        labels, t("report.export.sheet_volunteers"), t("report.export.sheet_volunteers")
    )
    names = ["name", "role", "zone", "district"]
    names += ["phone"] if phones else []
    names += ["username", "registered_at", "walkin"]
    writers.header([t(f"report.column.{name}") for name in names])
    async for row in _stream(session, _roster_query()):
        name, role, zone, district, name_th, name_en, phone, username, registered_at = row[:9]
        cells: list[Cell] = [
            _text(name),
            labels.role(role),
            labels.zone(zone, district),
            labels.district(name_th, name_en),
        ]
        cells += [_phone(phone)] if phones else []
        cells += [_text(username), registered_at, labels.yes_no(bool(row[9]))]
        writers.row(cells)
    await _audited(session, access, AuditAction.EXPORT_VOLUNTEERS, now, writers)
    return writers.finish("asa-volunteers")


async def _audited(
    session: AsyncSession,
    access: Access,
    action: AuditAction,
    now: datetime,
    writers: _Writers,
    *,
    event_id: int | None = None,
) -> None:
    """Record who exported what (how many rows, whether with phones); the caller commits."""
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=action,
        at=now,
        target_type=None if event_id is None else "event",
        target_id=event_id,
        detail={"rows": writers.rows, "phones": access.unscoped},
    )
