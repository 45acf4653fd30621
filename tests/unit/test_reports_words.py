"""Words a Thai office would use, in the reports' and the term table's catalogs (CONTRIBUTING.md,
"Words"): staff of an event are ทีมงาน, "เจ้าหน้าที่" is only ever the agencies' officials, a
check-in is เช็กอิน, signing up for an event is ลงชื่อร่วมงาน, and the polite register has
no ครับ/ค่ะ."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALE_DIR, terms, translator

CATALOGS = ("reports", "terms")


def thai_texts(name: str) -> dict[str, str]:
    """msgid -> msgstr of one Thai catalog."""
    with (LOCALE_DIR / "th" / "LC_MESSAGES" / f"{name}.po").open("rb") as handle:
        catalog = read_po(handle, locale="th")
    return {str(m.id): str(m.string) for m in catalog if m.id}


@pytest.mark.parametrize("name", CATALOGS)
def test_only_officials_are_called_chao_na_thi(name: str) -> None:
    # "เจ้าหน้าที่หน่วยงาน..." (the agencies' officials) or "เจ้าหน้าที่ตามหน่วยงาน" (officials
    # by agency); never staff, never someone who checks people in.
    wrong = {
        key: text
        for key, text in thai_texts(name).items()
        if re.search(r"เจ้าหน้าที่(?!หน่วยงาน|ตามหน่วยงาน)", text)
    }
    assert wrong == {}


@pytest.mark.parametrize("name", CATALOGS)
def test_one_word_for_checking_in_and_a_polite_register(name: str) -> None:
    texts = thai_texts(name)
    assert [k for k, text in texts.items() if "ลงชื่อเข้า" in text or "ลงชื่อออก" in text] == []
    assert [k for k, text in texts.items() if re.search(r"ครับ|ค่ะ|คะ\b", text)] == []


def test_staff_are_thim_ngan_everywhere() -> None:
    t = translator("th")
    assert t(terms.participant_type("staff")) == "ทีมงาน"
    assert t(terms.access_role("staff")) == "ทีมงาน"
    assert "ทีมงาน" in t(terms.group("others"))
    assert t("report.method.staff").startswith("ทีมงาน")


def test_the_three_words_of_attendance() -> None:
    """Registered with the bot, walk-in and signed up: each its own word in each language."""
    thai, english = translator("th"), translator("en")
    how = thai("report.headcount.how", registered=1, walkins=2)
    assert "ลงทะเบียน" in how
    assert "มาหน้างาน" in how
    signups = thai("report.headcount.signups", signed_up=3, capacity=4, came=5, waiting=6)
    assert signups.startswith("ลงชื่อร่วมงาน 3")
    assert "ลงทะเบียน" not in signups
    how_en = english("report.headcount.how", registered=1, walkins=2)
    assert "Registered with the bot 1" in how_en
    assert "walk-ins 2" in how_en
    signups_en = english("report.headcount.signups", signed_up=3, capacity=4, came=5, waiting=6)
    assert signups_en.startswith("Signed up 3")
