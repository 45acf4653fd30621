"""Pure checks and clean-ups for what volunteers type: names and phone numbers."""

from __future__ import annotations

import unicodedata
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

NAME_MIN_CHARS = 2
NAME_MAX_CHARS = 100
# Far longer than any phone number written with spaces and an international prefix.
PHONE_MAX_INPUT_CHARS = 40
THAI_COUNTRY_CODE = 66

NameProblem = Literal[
    "empty", "too_short", "too_long", "bad_characters", "unsupported_script", "no_letters"
]
PhoneProblem = Literal["empty", "too_short", "too_long", "bad_characters", "invalid"]


class InvalidName(ValueError):
    """The text cannot be used as a person's name; `reason` says why, for the bot to translate."""

    def __init__(self, reason: NameProblem) -> None:
        # The message leaves the input out on purpose: names are personal data and end up in logs.
        super().__init__(f"invalid name: {reason}")
        self.reason: NameProblem = reason


class InvalidPhone(ValueError):
    """The text is not a usable phone number; `reason` says why, for the bot to translate."""

    def __init__(self, reason: PhoneProblem) -> None:
        # The message leaves the input out on purpose: phone numbers are personal data.
        super().__init__(f"invalid phone number: {reason}")
        self.reason: PhoneProblem = reason


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

# Invisible characters phones and copy-paste slip into Thai text, and the curly apostrophe that
# phone keyboards substitute for the straight one.
_NAME_CLEANUP = str.maketrans(
    {"\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None, "’": "'"}
)
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_NAME_PUNCTUATION = frozenset(" .-")
_THAI_BLOCK = range(0x0E00, 0x0E80)
_COMBINING_DIACRITICS = range(0x0300, 0x0370)


def normalise_name(raw: str) -> str:
    """Return a tidy NFC name in Thai and/or Latin letters, or raise InvalidName."""
    text = unicodedata.normalize("NFC", raw.translate(_NAME_CLEANUP)).strip()
    if not text:
        raise InvalidName("empty")
    if any(ch in _LINE_BREAKS for ch in text):
        raise InvalidName("bad_characters")
    text = " ".join(text.split())
    if len(text) > NAME_MAX_CHARS:
        raise InvalidName("too_long")
    problem = _name_characters_problem(text)
    if problem is not None:
        raise InvalidName(problem)
    if len(text) < NAME_MIN_CHARS:
        raise InvalidName("too_short")
    if not any(unicodedata.category(ch).startswith("L") for ch in text):
        raise InvalidName("no_letters")
    return text


def _name_characters_problem(text: str) -> NameProblem | None:
    """Return the worst character problem in a name: bad characters, then foreign scripts."""
    verdicts = {_char_verdict(text, i) for i in range(len(text))}
    if "bad_characters" in verdicts:
        return "bad_characters"
    if "unsupported_script" in verdicts:
        return "unsupported_script"
    return None


def _char_verdict(text: str, i: int) -> NameProblem | None:
    """Judge the character at position i of a name, looking at its neighbours where it matters."""
    ch = text[i]
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if ch in _NAME_PUNCTUATION:
        return None
    if ch == "'":
        # Only inside a Latin name (O'Brien, D'Angelo): a stray quote is how injections start.
        return None if _is_latin_letter(before) and _is_latin_letter(after) else "bad_characters"
    category = unicodedata.category(ch)
    if ord(ch) in _THAI_BLOCK:
        return _thai_verdict(category, before)
    if ord(ch) in _COMBINING_DIACRITICS:
        # An accent typed as a separate character must sit on a Latin letter (or another accent).
        on_latin = _is_latin_letter(before) or (
            before != "" and ord(before) in _COMBINING_DIACRITICS
        )
        return None if on_latin else "bad_characters"
    if _is_latin_letter(ch):
        return None
    if category[0] in "LM":
        return "unsupported_script"
    return "bad_characters"


def _thai_verdict(category: str, before: str) -> NameProblem | None:
    """Judge a Thai-block character: letters and marks yes, digits and symbols no."""
    if category.startswith("L"):
        return None
    if category.startswith("M"):
        # Vowel and tone marks stack on a Thai character; on their own they are garbage.
        return None if before and ord(before) in _THAI_BLOCK else "bad_characters"
    return "bad_characters"


def _is_latin_letter(ch: str) -> bool:
    """Tell whether ch is a letter of the Latin script, accented or not."""
    return (
        len(ch) == 1
        and unicodedata.category(ch).startswith("L")
        and unicodedata.name(ch, "").startswith("LATIN ")
    )


# ---------------------------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------------------------

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_PHONE_SEPARATORS = frozenset(" -.()/")
_TOO_SHORT_PARSE_ERRORS = frozenset(
    {NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD}
)


def normalise_phone(raw: str, *, region: str = "TH") -> str:
    """Return a valid phone number in E.164 form ("+66812345678"), or raise InvalidPhone."""
    # NFKC turns full-width digits and spaces into ASCII ones; Thai digits need a table.
    text = unicodedata.normalize("NFKC", raw).translate(_THAI_DIGITS).strip()
    if not text:
        raise InvalidPhone("empty")
    if len(text) > PHONE_MAX_INPUT_CHARS:
        raise InvalidPhone("too_long")
    if not _phone_characters_ok(text):
        raise InvalidPhone("bad_characters")
    number = _parse_phone(text, region=region.upper())
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.TOO_SHORT:
        raise InvalidPhone("too_short")
    if possible == ValidationResult.TOO_LONG:
        raise InvalidPhone("too_long")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("invalid")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _phone_characters_ok(text: str) -> bool:
    """Allow digits, common separators and one leading "+", so letters never become digits."""
    body = text.removeprefix("+")
    return all(ch in "0123456789" or ch in _PHONE_SEPARATORS or ch.isspace() for ch in body)


def _parse_phone(text: str, *, region: str) -> phonenumbers.PhoneNumber:
    """Parse with phonenumbers, translating its errors into InvalidPhone reasons."""
    if sum(ch.isdigit() for ch in text) < 3:
        # phonenumbers calls a couple of digits "not a number"; for a person it is too short.
        raise InvalidPhone("too_short")
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type in _TOO_SHORT_PARSE_ERRORS:
            raise InvalidPhone("too_short") from exc
        if exc.error_type == NumberParseException.TOO_LONG:
            raise InvalidPhone("too_long") from exc
        raise InvalidPhone("invalid") from exc


def format_phone(e164: str) -> str:
    """A stored number as Thai people write it: "+66812345678" becomes "081-234-5678";
    a foreign number keeps its country code ("+1 415-555-0123")."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    if number.country_code != THAI_COUNTRY_CODE:
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return national.replace(" ", "-")


def mask_phone(e164: str) -> str:
    """Hide a phone number for logs and receipts: "+66812345678" becomes "+66 8x xxx 5678"."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return _mask_bare_digits(e164)
    grouped = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    prefix = f"+{number.country_code}"
    if not grouped.startswith(prefix):
        return _mask_bare_digits(e164)
    return prefix + _mask_national(grouped[len(prefix) :])


def _mask_national(grouped: str) -> str:
    """Mask the national part, keeping its grouping, its first digit and its last four digits."""
    total = sum(ch.isdigit() for ch in grouped)
    # On very short numbers the first and last four would give the whole number away.
    keep_first, keep_last = (1, 4) if total >= 7 else (0, 2)
    out: list[str] = []
    seen = 0
    for ch in grouped:
        if ch.isdigit():
            seen += 1
            keep = seen <= keep_first or seen > total - keep_last
            out.append(ch if keep else "x")
        else:
            out.append(ch)
    return "".join(out)


def _mask_bare_digits(text: str) -> str:
    """Mask something that is not a proper E.164 number without ever echoing it whole."""
    digits = [ch for ch in text if ch.isdigit()]
    if len(digits) < 8:
        return "x" * len(digits)
    return "x" * (len(digits) - 4) + "".join(digits[-4:])
