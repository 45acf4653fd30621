"""The foundation end to end: the real bot, over HTTP, against the fake Telegram."""

from __future__ import annotations

from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness


async def test_start_greets_in_thai_and_the_conversation_survives_a_restart(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person(first_name="Somchai", language_code="th")
    await person.send("/start")
    greeting = await person.next_reply()
    assert greeting.text is not None
    assert "สวัสดี" in greeting.text
    assert greeting.button_texts == ["ภาษาไทย", "English"]

    await bot.restart()

    # The same greeting's button still works: the conversation state came back from the
    # database, so the new process knows this person was choosing a language.
    await person.press("English", message=greeting)
    confirmation = await person.wait_for_edit(greeting)
    assert confirmation.text == "English it is."
    # Registration goes on with the privacy notice, in the chosen language.
    notice = await person.next_reply()
    assert (notice.text or "").startswith("Privacy notice")

    await bot.restart()
    await person.send("/help")
    help_text = await person.next_reply()
    assert help_text.text is not None
    assert help_text.text.startswith("Commands you can use")


async def test_anything_unexpected_gets_a_helpful_reply(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await person.send_sticker()
    assert "ไม่เข้าใจ" in ((await person.next_reply()).text or "")
    await person.send("/nonsense")
    assert "/help" in ((await person.next_reply()).text or "")
    await person.send("/lang")
    choice = await person.next_reply()
    await person.press_data("garbage:123", message=choice)
    await bot.settle()
    assert person.callback_answers[-1]["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"


async def test_group_messages_get_no_reply(bot: BotHarness, telegram: FakeTelegram) -> None:
    person = telegram.person()
    group = telegram.group("อาสาสมัคร โซน 3")
    await group.send(person, "/start")
    await group.send(person, "hello")
    await person.send("/help")
    await person.next_reply()
    assert all(message.chat_id == person.chat_id for message in telegram.sent)
