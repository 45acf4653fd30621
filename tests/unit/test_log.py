"""The token never reaches a log line."""

from __future__ import annotations

import logging

import pytest

from bot.log import RedactTokens

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def test_tokens_are_scrubbed_from_messages_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactTokens())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
        logger.info(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage")
    text = caplog.text
    assert TOKEN not in text
    assert text.count("<token>") == 2
