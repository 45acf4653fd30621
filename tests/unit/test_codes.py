"""Check-in codes and deep-link tokens."""

from __future__ import annotations

import re

from bot.services import codes


def test_codes_use_only_unambiguous_characters() -> None:
    drawn = {codes.new_code() for _ in range(500)}
    assert len(drawn) > 490  # random, not a counter
    for code in drawn:
        assert len(code) == 6
        assert set(code) <= set(codes.CODE_ALPHABET)
    assert not set("0O1I") & set(codes.CODE_ALPHABET)


def test_typed_codes_are_tidied_and_junk_is_refused() -> None:
    assert codes.normalise_code(" k7m-x2q ") == "K7MX2Q"
    assert codes.normalise_code("ｋ７ｍｘ２ｑ") == "K7MX2Q"  # full-width, from a Thai keyboard
    assert codes.normalise_code("K7MX2") is None
    assert codes.normalise_code("K7MX2Q9") is None
    assert codes.normalise_code("K0MX2Q") is None  # 0 is never in a code
    assert codes.normalise_code("'; DROP TABLE event; --") is None
    assert codes.normalise_code("กขคงจฉ") is None


def test_deep_link_payload_fits_telegram_rules() -> None:
    for _ in range(200):
        token = codes.new_token()
        payload = codes.start_payload(token)
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)
        assert payload.startswith("ci-")
        assert codes.is_token(token)
    assert codes.deep_link("asa_bot", "abc") == "https://t.me/asa_bot?start=ci-abc"
    assert not codes.is_token("short")
    assert not codes.is_token("x" * 20 + "/")


def test_derived_codes_change_with_the_window_and_the_secret() -> None:
    first = codes.derived_code("secret", 1)
    assert first == codes.derived_code("secret", 1)
    assert first != codes.derived_code("secret", 2)
    assert first != codes.derived_code("other", 1)
    assert codes.normalise_code(first) == first
