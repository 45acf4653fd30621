"""The one message splitter (bot/handlers/common.py): long texts are split for Telegram."""

from __future__ import annotations

import pytest

from bot.handlers.common import MESSAGE_LIMIT, split_message


def test_a_short_text_is_one_message() -> None:
    assert split_message("สวัสดี\nhello") == ["สวัสดี\nhello"]


def test_a_long_text_is_cut_at_line_breaks_without_losing_anything() -> None:
    lines = [f"• กิจกรรมที่ {n}: อบรมอาสาสมัครแรงงาน" for n in range(400)]
    text = "\n".join(lines)
    parts = split_message(text)
    assert len(parts) > 1
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "\n".join(parts) == text
    # No line is broken in the middle.
    assert all(part.split("\n")[0] in lines for part in parts)


@pytest.mark.parametrize("size", [MESSAGE_LIMIT + 1, 3 * MESSAGE_LIMIT + 5])
def test_a_single_huge_line_is_cut_into_pieces(size: int) -> None:
    parts = split_message("x" * size)
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "".join(parts) == "x" * size
