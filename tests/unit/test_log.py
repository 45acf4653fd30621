"""Redaction at the last step: no token, phone number or name in any formatted log line."""

from __future__ import annotations

import io
import logging

import pytest

from bot.log import HIDDEN, RedactTokens, configure_logging, redact
from bot.services.checkins import WrongCode

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
PHONES = ("+66812345678", "081-234-5678", "0812345678", "+66 81 234 5678", "66812345678")
NAME = "สมชาย ใจดี"


@pytest.fixture
def log_lines() -> io.StringIO:
    """The production logging set-up, writing to a buffer; restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(logging.DEBUG, stream=buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_tokens_are_scrubbed_from_messages_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactTokens())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
        logger.info(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage")
    text = caplog.text
    assert TOKEN not in text
    assert text.count("<token>") == 2


def test_an_error_carrying_token_phone_and_name_leaves_none_of_them(
    log_lines: io.StringIO,
) -> None:
    def deep_inside_a_library() -> None:
        raise ValueError(f"bad row for {NAME} {PHONES[0]} via {TOKEN}")

    try:
        try:
            deep_inside_a_library()
        except ValueError as error:
            raise RuntimeError(f"while saving {NAME} ({PHONES[1]})") from error
    except RuntimeError:
        logging.getLogger("bot.test").exception("saving %s failed with %s", PHONES[2], TOKEN)
    text = log_lines.getvalue()
    for secret in (TOKEN, NAME, "สมชาย", *PHONES):
        assert secret not in text
    # What is needed to debug stays: where it happened and what kind of error it was.
    assert "deep_inside_a_library" in text
    assert f"builtins.ValueError: {HIDDEN}" in text
    assert f"builtins.RuntimeError: {HIDDEN}" in text
    assert "saving <phone> failed with <token>" in text


def test_safe_errors_keep_their_text(log_lines: io.StringIO) -> None:
    try:
        raise WrongCode()
    except WrongCode:
        logging.getLogger("bot.test").exception("refused")
    assert "checkin.wrong_code" in log_lines.getvalue()


@pytest.mark.parametrize("phone", PHONES)
def test_every_way_of_writing_a_thai_number_is_redacted(phone: str) -> None:
    assert redact(f"called {phone} today") == "called <phone> today"


@pytest.mark.parametrize("harmless", ["update 100234 done", "person 1000001", "event 7034452"])
def test_ids_are_not_mistaken_for_phones(harmless: str) -> None:
    assert redact(harmless) == harmless
