"""Every message exists in Thai and English, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, Translator, load_catalog, normalise_language

ROOT = Path(__file__).resolve().parents[2]
# t("key"), context.t("key"), t.plural("key", ...), and DomainError's `key = "..."`.
KEY_USE = re.compile(
    r"""(?:\bt(?:\.plural)?\(\s*|\bkey\s*=\s*)["']([a-z][a-z0-9_]*\.[a-z0-9_.]+)["']"""
)


def catalog_keys(lang: str) -> dict[str, str]:
    """msgid -> msgstr (the singular form for plurals)."""
    keys: dict[str, str] = {}
    for message in load_catalog(lang):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        text = message.string if isinstance(message.string, str) else message.string[0]
        keys[msgid] = text or ""
    return keys


def used_keys() -> set[str]:
    """Keys written literally in the bot's code."""
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        found.update(KEY_USE.findall(path.read_text(encoding="utf-8")))
    return found


def test_both_languages_have_the_same_keys() -> None:
    thai, english = catalog_keys("th"), catalog_keys("en")
    assert sorted(set(thai) - set(english)) == []
    assert sorted(set(english) - set(thai)) == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_translation_is_empty(lang: str) -> None:
    empty = [key for key, text in catalog_keys(lang).items() if not text.strip()]
    assert empty == []


def test_every_key_used_in_code_has_a_translation() -> None:
    known = set(catalog_keys("th"))
    assert sorted(used_keys() - known) == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match_between_languages(lang: str) -> None:
    other = "en" if lang == "th" else "th"
    mine, theirs = catalog_keys(lang), catalog_keys(other)
    placeholder = re.compile(r"\{(\w+)\}")
    mismatched = [
        key
        for key in mine
        if key in theirs
        and set(placeholder.findall(mine[key])) != set(placeholder.findall(theirs[key]))
    ]
    assert mismatched == []


def test_translator_fills_values_and_survives_bad_ones() -> None:
    thai = Translator("th")
    assert thai("start.welcome_back", name="สมชาย").startswith("ยินดีต้อนรับกลับมา คุณสมชาย")
    assert "{name}" in thai("start.welcome_back", wrong="x")
    assert normalise_language("en-GB") == "en"
    assert normalise_language("fr", "th") == "th"
    assert normalise_language(None) == "th"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_term_has_one_text_in_each_language(lang: str) -> None:
    """Participant types, agencies, roles, groups: one key each, all translated."""
    from bot.i18n.terms import all_keys

    t = Translator(lang)
    assert [key for key in all_keys() if not t.has(key)] == []
