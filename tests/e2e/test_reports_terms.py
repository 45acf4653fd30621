"""One term per thing (issue 11 §9, issue 12 §7): each participant type, volunteer role, agency
and attendee group reads the same in /headcount, /summary, the exports and the registration
summary (/profile shows it), in Thai and in English.

Each surface is rendered through the bot and the words it shows are compared with the term
table (bot/i18n/terms.py, terms.po); a screen that names a thing its own way fails here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator

import openpyxl
import pytest

from bot.i18n import terms, translator
from bot.services.summary import in_sentence
from storage.models import Agency, ParticipantType, Person, VolunteerRole
from tests import seed_seminar as seed
from tests.e2e.test_reports import ADMIN_ID, DURING, ask, bot_at, export_files
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chatter
from tests.harness import BotHarness

LANGUAGES = ("th", "en")
TYPES = [kind.value for kind in ParticipantType]
ROLES = [role.value for role in VolunteerRole]
AGENCIES = [agency.value for agency in Agency]
OTHER_TYPES = ("speaker", "civil_servant", "staff", "observer")


@pytest.fixture
async def bot(telegram: FakeTelegram, database_url: str) -> AsyncIterator[BotHarness]:
    """The bot two hours into the seminar, the seminar in its database."""
    async with bot_at(telegram, database_url, DURING) as harness:
        async with harness.sessions() as session:
            await seed.seed_seminar(session)
            await session.commit()
        yield harness


async def in_language(chatter: Chatter, lang: str) -> None:
    """Switch the person's language with /lang."""
    choice = await ask(chatter, "/lang")
    await chatter.press("ภาษาไทย" if lang == "th" else "English", message=choice)
    await chatter.wait_for_edit(choice)


def ends_a_line(text: str, term: str) -> bool:
    """Whether `term` is a whole value at the end of a line ("ประเภท: วิทยากร")."""
    return re.search(rf"(^|\s){re.escape(term)}$", text, re.MULTILINE) is not None


def counted(text: str, term: str) -> bool:
    """Whether `term` is shown with a count, alone or among others ("ทีมงาน 36 · ...")."""
    return re.search(rf"(^|• |· |\s){re.escape(term)} \d+( ·|$)", text, re.MULTILINE) is not None


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_headcount_summary_and_exports_use_the_terms(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    t = translator(lang)
    admin = telegram.person(user_id=ADMIN_ID, first_name="Admin")
    if lang != "th":
        await in_language(admin, lang)

    headcount = (await ask(admin, "/headcount")).text or ""
    for role in ROLES:
        assert counted(headcount, t(terms.volunteer_role(role))), role
    for agency in AGENCIES:
        assert counted(headcount, t(terms.agency(agency))), agency
    for group in terms.GROUPS:
        assert counted(headcount, t(terms.group(group))), group
    for kind in OTHER_TYPES:
        assert counted(headcount, t(terms.participant_type(kind))), kind

    summary = (await ask(admin, "/summary")).text or ""
    for group in terms.GROUPS:
        assert in_sentence(t, t(terms.group(group))) in summary, group

    csv_bytes, xlsx_bytes = await export_files(admin)
    header, *rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    column = {name: header.index(t(f"report.column.{name}")) for name in ("type", "role", "agency")}
    assert {row[column["type"]] for row in rows} == {t(terms.participant_type(k)) for k in TYPES}
    shown_roles = {row[column["role"]] for row in rows} - {""}
    assert shown_roles == {t(terms.volunteer_role(r)) for r in ROLES}
    shown_agencies = {row[column["agency"]] for row in rows} - {""}
    assert shown_agencies == {t(terms.agency(a)) for a in AGENCIES}
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes), read_only=True)
    try:
        sheet = book[t("report.export.sheet_headcount")]
        labels = {row[0] for row in sheet.iter_rows(values_only=True) if row and row[0]}
    finally:
        book.close()
    expected = {t(terms.participant_type(kind)) for kind in TYPES}
    expected |= {t(terms.volunteer_role(role)) for role in ROLES}
    expected |= {t(terms.agency(agency)) for agency in AGENCIES}
    expected |= {t(terms.group(group)) for group in terms.GROUPS}
    assert expected - labels == set()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_registration_summary_uses_the_terms(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    """/profile shows the registration summary of the stored record: each type, role and
    agency reads there exactly as in the reports."""
    t = translator(lang)
    chatter = telegram.person(first_name="Member")
    async with bot.sessions() as session:
        person = Person(
            telegram_id=chatter.user_id,
            full_name="สมชาย ใจดี",
            phone="+66812345678",
            language=lang,
        )
        session.add(person)
        await session.commit()
    if lang != "th":
        await in_language(chatter, lang)
    records = [("volunteer", role, None) for role in ROLES]
    records += [("official", None, agency) for agency in AGENCIES]
    records += [(kind, None, None) for kind in OTHER_TYPES]
    for kind, role, agency in records:
        async with bot.sessions() as session:
            stored = await session.get(Person, person.id)
            assert stored is not None
            stored.participant_type = kind
            stored.volunteer_role = role
            stored.agency = agency
            stored.district_code = "1033" if kind == "volunteer" else None
            session.add(stored)
            await session.commit()
        profile = (await ask(chatter, "/profile")).text or ""
        assert ends_a_line(profile, t(terms.participant_type(kind))), (kind, profile)
        if role is not None:
            assert ends_a_line(profile, t(terms.volunteer_role(role))), (role, profile)
        if agency is not None:
            assert ends_a_line(profile, t(terms.agency(agency))), (agency, profile)
        await ask(chatter, "/cancel")


def test_thai_names_volunteers_and_officials_alike_as_types_and_groups() -> None:
    """In Thai the type and its group are one word, so /summary and the lists agree."""
    t = translator("th")
    assert t(terms.participant_type("volunteer")) == t(terms.group("volunteers"))
    assert t(terms.participant_type("official")) == t(terms.group("officials"))
    # The third group's name lists its types by their terms.
    others = t(terms.group("others"))
    for kind in OTHER_TYPES:
        assert t(terms.participant_type(kind)) in others
