"""Logs never hold a phone number, a name, a message text or the bot token.

The bot runs with the production logging set-up (`bot.log.configure_logging`) at its most
verbose (DEBUG), and every record any logger emits is captured while people chat with it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.log import configure_logging
from tests.e2e.test_admin_support import running_world
from tests.e2e.test_registration import EN, TH, register_volunteer
from tests.fake_telegram import DEFAULT_TOKEN, FakeTelegram

PHONE_FORMS = ("+66812345678", "66812345678", "0812345678", "081 234 5678", "812345678")
NAMES = ("Somchai", "Jaidee", "สมชาย", "ใจดี", "somchai_v", "Wilai", "Sukjai", "วิไล")
SECRET_TEXT = "ข้อความลับ 7431 ของวิไล"


@dataclass
class Logs:
    """What the production handler wrote, and the records it was given."""

    lines: io.StringIO
    records: list[logging.LogRecord]

    @property
    def text(self) -> str:
        """Every formatted line, as an operator would read them."""
        return self.lines.getvalue()


class _Keep(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture
def production_logs() -> Iterator[Logs]:
    """Production logging at DEBUG into a buffer: the exact lines an operator would see."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    logs = Logs(lines=io.StringIO(), records=[])
    configure_logging(logging.DEBUG, stream=logs.lines)
    root.addHandler(_Keep(logs.records))
    try:
        yield logs
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_a_full_flow_leaves_no_personal_data_in_the_logs(
    production_logs: Logs, telegram: FakeTelegram, database_url: str
) -> None:
    telegram.set_rate_limits(enabled=False)
    async with running_world(telegram, database_url, flood_max_updates=1000) as world:
        somchai = telegram.person(first_name="Somchai", last_name="Jaidee", username="somchai_v")
        wilai = telegram.person(first_name="Wilai", language_code="en")
        # Two full registrations through the bot: by the contact button, and by typing.
        await register_volunteer(somchai, TH, name="สมชาย ใจดี", by_contact=True)
        await register_volunteer(wilai, EN, name="Wilai Sukjai", by_contact=False)

        await somchai.send("/help")
        await somchai.next_reply()
        await somchai.send("/profile")
        await somchai.next_reply()
        await somchai.send("/cancel")
        await somchai.next_reply()
        await wilai.send("/mydata")
        await wilai.wait_for(lambda m: m.kind == "document")
        await wilai.send(SECRET_TEXT)
        await wilai.share_contact("66812345678")
        await wilai.send("081 234 5678")
        await wilai.send("Wilai Sukjai")
        await wilai.send_sticker()
        await world.admin.send("/grant coordinator 3 081 234 5678")
        await world.admin.wait_for(lambda m: "สมชาย ใจดี" in (m.text or ""))
        await somchai.wait_for(lambda m: "โซน" in (m.text or ""))
        await world.admin.forward_from(somchai, SECRET_TEXT)
        await world.admin.send("/roles")
        await world.admin.wait_for(lambda m: "สมชาย" in (m.text or ""))
        await world.admin.send("/audit")
        await world.admin.wait_for(lambda m: (m.text or "").startswith("การดำเนินการ"))
        # Telegram failing: errors are logged, with tracebacks, and still no token.
        telegram.fail_next("getUpdates", kind="502")
        telegram.fail_next("sendMessage", kind="500", chat_id=somchai.chat_id)
        await somchai.send("/help")
        await world.bot.settle()
        group = telegram.group("กลุ่มอาสา")
        await group.send(somchai, f"/start {SECRET_TEXT} 0812345678")
        await world.bot.settle()

    text = production_logs.text
    assert production_logs.records, "nothing was logged at all: the capture is broken"
    leaks = [s for s in (*PHONE_FORMS, *NAMES, SECRET_TEXT) if s in text]
    assert leaks == []
    assert any(record.exc_info for record in production_logs.records), "no error was logged"
    assert DEFAULT_TOKEN not in text
    assert DEFAULT_TOKEN.split(":")[1] not in text
