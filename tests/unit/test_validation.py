"""Tests for the name and phone number clean-ups volunteers' input goes through."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.handlers.person_steps import masked_phone
from bot.services.validation import (
    NAME_MAX_CHARS,
    InvalidName,
    InvalidPhone,
    NameProblem,
    PhoneProblem,
    format_phone,
    mask_phone,
    normalise_name,
    normalise_phone,
)

# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("สมชาย ใจดี", "สมชาย ใจดี"),
        ("  สมชาย   ใจดี  ", "สมชาย ใจดี"),
        ("สมชาย\tใจดี", "สมชาย ใจดี"),
        ("น้ำฝน ศรีสุข", "น้ำฝน ศรีสุข"),  # vowels and tone marks
        ("ม.ล. สุภาพ", "ม.ล. สุภาพ"),  # Thai honorific abbreviation with dots
        ("\u200bสมชาย\u200b ใจดี", "สมชาย ใจดี"),  # invisible zero-width spaces from copy-paste
        ("John Smith", "John Smith"),
        ("O'Brien", "O'Brien"),
        ("O\u2019Brien", "O'Brien"),  # phone keyboards type a curly apostrophe
        ("Anne-Marie Dupont", "Anne-Marie Dupont"),
        ("Dr. Jane Doe", "Dr. Jane Doe"),
        ("José María", "José María"),
        ("Jose\u0301", "José"),  # decomposed accent becomes one NFC character
        ("Zoë Ångström", "Zoë Ångström"),
        ("Somchai ใจดี", "Somchai ใจดี"),
        ("Jo", "Jo"),
        ("a" * NAME_MAX_CHARS, "a" * NAME_MAX_CHARS),
    ],
)
def test_normalise_name_accepts(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_normalise_name_result_is_nfc() -> None:
    assert normalise_name("Jose\u0301") == "Jos\u00e9"
    assert len(normalise_name("Jose\u0301")) == 4


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\u200b", "empty"),
        ("A", "too_short"),
        ("ก", "too_short"),
        (" A ", "too_short"),
        ("a" * (NAME_MAX_CHARS + 1), "too_long"),
        ("ก" * 5000, "too_long"),
        ("Somchai 2", "bad_characters"),
        ("สมชาย๒", "bad_characters"),  # Thai digit
        ("สมชาย ฿", "bad_characters"),  # baht sign is in the Thai block but not a letter
        ("Som 😀", "bad_characters"),
        ("😀😀", "bad_characters"),
        ("<b>Som</b>", "bad_characters"),
        ("Som;chai", "bad_characters"),
        ('Som "Chai"', "bad_characters"),
        ("'; DROP TABLE person;--", "bad_characters"),
        ("Robert'); DROP TABLE person;--", "bad_characters"),
        ("Som\nChai", "bad_characters"),
        ("Som\u2028Chai", "bad_characters"),
        ("Som\u202eChai", "bad_characters"),  # right-to-left override
        ("'Brien", "bad_characters"),  # apostrophe must sit between Latin letters
        ("O'", "bad_characters"),
        ("สม'ชาย", "bad_characters"),  # and only in Latin names
        ("\u0e48ก", "bad_characters"),  # a tone mark with nothing to sit on
        ("a\u0301\u0e48b", "bad_characters"),
        ("Иван Петров", "unsupported_script"),
        ("王小明", "unsupported_script"),
        ("...", "no_letters"),
        ("- -", "no_letters"),
    ],
)
def test_normalise_name_refuses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        normalise_name(raw)
    assert caught.value.reason == reason


def test_invalid_name_is_a_value_error_that_does_not_echo_the_input() -> None:
    with pytest.raises(ValueError, match="bad_characters") as caught:
        normalise_name("Secret Name 42")
    assert "Secret" not in str(caught.value)


@settings(max_examples=300, database=None, deadline=None)
@given(raw=st.text(max_size=300))
def test_normalise_name_either_returns_a_clean_name_or_refuses(raw: str) -> None:
    name, reason = None, None
    try:
        name = normalise_name(raw)
    except InvalidName as exc:
        reason = exc.reason
    if name is None:
        assert reason in get_args(NameProblem)
    else:
        assert 2 <= len(name) <= NAME_MAX_CHARS
        assert name == name.strip()
        assert "  " not in name
        assert not any(ch.isdigit() for ch in name)


# --- phone numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "081 234 5678",
        "081-234-5678",
        "+66812345678",
        "66812345678",
        "0812345678",
        "+66 81 234 5678",
        " 0812345678 ",
        "(081) 234-5678",
        "081.234.5678",
        "๐๘๑๒๓๔๕๖๗๘",
        "๐๘๑ ๒๓๔ ๕๖๗๘",
        "\uff10\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",  # full-width digits
        "001 66 81 234 5678",  # dialled with Thailand's international prefix
    ],
)
def test_normalise_phone_accepts_thai_mobile_forms(raw: str) -> None:
    assert normalise_phone(raw) == "+66812345678"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("02 123 4567", "TH", "+6621234567"),  # Bangkok landline
        ("+44 20 7946 0958", "TH", "+442079460958"),  # a foreign number written with "+"
        ("020 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "gb", "+442079460958"),
    ],
)
def test_normalise_phone_other_numbers(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region=region) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("12", "too_short"),
        ("081", "too_short"),
        ("0812345", "too_short"),
        ("081234567890123456789", "too_long"),
        ("5" * 5000, "too_long"),
        ("081-CALL-ME", "bad_characters"),
        ("1-800-FLOWERS", "bad_characters"),
        ("abc", "bad_characters"),
        ("0812345678 ext 12", "bad_characters"),
        ("++66812345678", "bad_characters"),
        ("08123+45678", "bad_characters"),
        ("'; DROP TABLE person;--", "bad_characters"),
        ("📞 0812345678", "bad_characters"),
        ("08123456789", "invalid"),  # one digit too many for a Thai mobile
        ("+66 12 345 6789", "invalid"),  # no Thai number starts with 1 after the trunk zero
        ("+999 1234 5678", "invalid"),  # no such country code
    ],
)
def test_normalise_phone_refuses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalise_phone(raw)
    assert caught.value.reason == reason


def test_invalid_phone_is_a_value_error_that_does_not_echo_the_input() -> None:
    with pytest.raises(ValueError, match="invalid") as caught:
        normalise_phone("08123456789")
    assert "08123456789" not in str(caught.value)


@settings(max_examples=300, database=None, deadline=None)
@given(raw=st.text(alphabet="0123456789+-() ๐๑๒๓๔๕๖๗๘๙abc", max_size=40))
def test_normalise_phone_returns_e164_or_refuses(raw: str) -> None:
    number, reason = None, None
    try:
        number = normalise_phone(raw)
    except InvalidPhone as exc:
        reason = exc.reason
    if number is None:
        assert reason in get_args(PhoneProblem)
    else:
        assert number.startswith("+")
        assert number[1:].isdigit()
        assert len(number) <= 16


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+66812345678", "+66 8x xxx 5678"),
        ("+66912345678", "+66 9x xxx 5678"),
        ("+6621234567", "+66 2 xxx 4567"),
        ("+442079460958", "+44 2x xxxx 0958"),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("0812345678", "xxxxxx5678"),  # not E.164: still never echoed whole
        ("123", "xxx"),
        ("", ""),
        ("garbage", ""),
    ],
)
def test_mask_phone_on_bad_input_never_reveals_the_number(text: str, masked: str) -> None:
    assert mask_phone(text) == masked


def test_mask_phone_round_trip_from_normalise() -> None:
    assert mask_phone(normalise_phone("081 234 5678")) == "+66 8x xxx 5678"


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+66812345678", "081-234-5678"),
        ("+6621234567", "02-123-4567"),
        ("+14155550123", "+1 415-555-0123"),
        ("not a number", "not a number"),
    ],
)
def test_format_phone_writes_numbers_as_thai_people_do(e164: str, shown: str) -> None:
    assert format_phone(e164) == shown


@pytest.mark.parametrize(
    ("e164", "masked"), [("+66812345678", "08x-xxx-5678"), ("+6621234567", "02-xxx-4567")]
)
def test_a_masked_number_keeps_the_thai_shape_and_the_last_four_digits(
    e164: str, masked: str
) -> None:
    assert masked_phone(e164) == masked


@pytest.mark.parametrize("raw", ["081 234 5678", "+66 81 234 5678", "๐๘๑๒๓๔๕๖๗๘"])
def test_any_typed_form_is_shown_the_same_way(raw: str) -> None:
    assert format_phone(normalise_phone(raw)) == "081-234-5678"
