"""Every update the fake can produce parses in python-telegram-bot, field for field."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    ChatMember,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    TelegramObject,
    Update,
)

from tests.fake_telegram import Channel, FakeTelegram, Group, Person
from tests.fake_telegram.people import chat_member
from tests.fake_telegram.testing import bot_fixture, offline_bot, tg_fixture  # noqa: F401

# Person coroutines that wait for the bot instead of producing an update.
WAITERS = frozenset({"next_reply", "replies", "wait_for", "wait_for_edit", "wait_for_answer"})


@pytest.fixture
def offline(tg: FakeTelegram) -> Bot:
    """A Bot that parses objects but never talks to anybody."""
    return offline_bot(tg.token)


def unknown_fields(value: Any, path: str) -> list[str]:
    """Every place in a parsed object where PTB kept fields it does not know (api_kwargs)."""
    if isinstance(value, tuple | list):
        return [
            found for i, item in enumerate(value) for found in unknown_fields(item, f"{path}[{i}]")
        ]
    if not isinstance(value, TelegramObject):
        return []
    found = [f"{path}: {sorted(value.api_kwargs)}"] if value.api_kwargs else []
    slots = {slot for cls in type(value).__mro__ for slot in getattr(cls, "__slots__", ())}
    for slot in sorted(s for s in slots if not s.startswith("_") and s != "api_kwargs"):
        found += unknown_fields(getattr(value, slot, None), f"{path}.{slot}")
    return found


def producers(cls: type) -> set[str]:
    """The public coroutine methods of a simulated actor that create updates."""
    return {
        name
        for name, member in vars(cls).items()
        if inspect.iscoroutinefunction(member) and not name.startswith("_")
    } - WAITERS


class Recorder:
    """Calls actor methods by name and remembers which ones a test exercised."""

    def __init__(self) -> None:
        self.used: dict[type, set[str]] = {}

    async def __call__(
        self, actor: Person | Group | Channel, name: str, *args: Any, **kwargs: Any
    ) -> Any:
        self.used.setdefault(type(actor), set()).add(name)
        method: Callable[..., Awaitable[Any]] = getattr(actor, name)
        return await method(*args, **kwargs)


async def produce_everything(tg: FakeTelegram, bot: Bot) -> Recorder:
    """Drive every update-producing method of Person, Group and Channel at least once."""
    act = Recorder()
    friend = tg.person(first_name="Malee", last_name="Jaidee", username="malee_j")
    person = tg.person(username="somchai_t", language_code=None)
    await act(person, "send", "/start")
    await act(person, "send", "ตอบ", reply_to=person.sent_messages[0])
    await act(person, "edit_last", "/start again")
    await act(person, "forward_from", friend)
    await act(person, "forward_from", friend, "ซ่อน", hidden=True)
    await act(person, "share_contact", "66812345678")
    await act(person, "share_contact", "+66811111111", user_id=None, first_name="F", last_name="J")
    await act(person, "share_location", 13.75, 100.5, live_period=600)
    await act(person, "move_to", 13.76, 100.51)
    await act(person, "share_location", 13.7, 100.4, forwarded=True)
    await act(person, "send_photo", "รูป")
    await act(person, "send_document", "slip.pdf", b"%PDF-1.4")
    await act(person, "send_voice")
    await act(person, "send_sticker")

    keyboard = ReplyKeyboardMarkup([[KeyboardButton("เมนู")]])
    await bot.send_message(person.chat_id, "เลือก", reply_markup=keyboard)
    await act(person, "tap", "เมนู")
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton("ไป", callback_data="go")]])
    await bot.send_message(person.chat_id, "<b>ต่อ</b>", parse_mode="HTML", reply_markup=buttons)
    await act(person, "press", "ไป")
    await act(person, "press_data", "forged:1")
    await act(person, "block_bot")
    await act(person, "unblock_bot")

    group = tg.group("อาสา")
    question = await act(group, "send", friend, "/help@asa_test_bot")
    await act(group, "send", person, "ตอบกลุ่ม", reply_to=question)
    channel = tg.channel("ข่าว")
    await act(channel, "post", "ประกาศ")
    return act


async def test_every_update_the_fake_produces_parses_in_ptb(
    tg: FakeTelegram, bot: Bot, offline: Bot
) -> None:
    act = await produce_everything(tg, bot)
    for actor in (Person, Group, Channel):
        assert act.used.get(actor) == producers(actor), f"a {actor.__name__} producer is untested"

    payloads = tg.pending_updates
    kinds = {next(k for k in payload if k != "update_id") for payload in payloads}
    assert kinds == {
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
        "channel_post",
    }
    problems: list[str] = []
    for payload in payloads:
        update = Update.de_json(payload, offline)  # raises on a missing required field
        assert update.update_id == payload["update_id"]
        problems += unknown_fields(update, f"update {update.update_id}")
    assert problems == []

    blocked, unblocked = [u["my_chat_member"] for u in payloads if "my_chat_member" in u]
    assert blocked["new_chat_member"] == {
        "user": tg.world.bot_user,
        "status": "kicked",
        "until_date": 0,
    }
    assert unblocked["old_chat_member"] == blocked["new_chat_member"]
    assert unblocked["new_chat_member"] == {"user": tg.world.bot_user, "status": "member"}


@pytest.mark.parametrize(
    ("status", "until_date", "cls", "fields"),
    [
        ("member", 0, ChatMemberMember, {"user", "status"}),
        ("member", 1_900_000_000, ChatMemberMember, {"user", "status", "until_date"}),
        ("left", 0, ChatMemberLeft, {"user", "status"}),
        ("kicked", 0, ChatMemberBanned, {"user", "status", "until_date"}),
        ("kicked", 1_900_000_000, ChatMemberBanned, {"user", "status", "until_date"}),
    ],
)
def test_chat_members_carry_telegrams_fields(
    offline: Bot, status: str, until_date: int, cls: type[ChatMember], fields: set[str]
) -> None:
    user = {"id": 7, "is_bot": True, "first_name": "Bot"}
    member = chat_member(user, status, until_date=until_date)
    assert set(member) == fields
    parsed = ChatMember.de_json(member, offline)
    assert type(parsed) is cls
    assert unknown_fields(parsed, "member") == []


def test_chat_member_refuses_statuses_the_fake_cannot_describe() -> None:
    with pytest.raises(ValueError, match="administrator"):
        chat_member({"id": 7, "is_bot": True, "first_name": "Bot"}, "administrator")


# ------------------------------------------------------------------ raw updates


async def raw_get_updates(tg: FakeTelegram, **params: Any) -> list[dict[str, Any]]:
    """getUpdates without PTB's parsing, which malformed updates would break."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.base_url}{tg.token}/getUpdates", json=params) as response,
    ):
        answer = await response.json()
    assert answer["ok"], answer
    result: list[dict[str, Any]] = answer["result"]
    return result


async def test_raw_updates_are_delivered_verbatim_with_an_update_id(tg: FakeTelegram) -> None:
    person = tg.person()
    await person.send("ก่อน")
    broken = tg.push_raw_update({"message": {"text": "no chat, no date"}})
    empty = tg.push_raw_update({})
    await person.send("หลัง")

    updates = await raw_get_updates(tg)
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    assert updates[1] == broken == {"update_id": ids[1], "message": {"text": "no chat, no date"}}
    assert updates[2] == empty == {"update_id": ids[2]}  # no kind: allowed whatever the filter
    assert updates[3]["message"]["text"] == "หลัง"

    assert await raw_get_updates(tg, offset=ids[2] + 1) == [updates[3]]  # confirmed by offset
    assert tg.world.updates.pending == 1


async def test_raw_updates_keep_their_own_update_id(tg: FakeTelegram) -> None:
    tg.push_raw_update({"update_id": 900_000, "callback_query": {"id": "x"}})
    tg.push_raw_update({"update_id": "not a number", "message": {}})
    tg.push_raw_update({"update_id": 800_000, "edited_message": {}})
    await tg.person().send("ต่อ")

    updates = await raw_get_updates(tg)
    assert [u["update_id"] for u in updates[:3]] == [800_000, 900_000, "not a number"]
    # Later ids keep increasing past the highest one injected.
    assert updates[3]["update_id"] > 900_001
    # Confirming past the numeric ones forgets the unnumbered one, which was queued after.
    assert await raw_get_updates(tg, offset=updates[3]["update_id"]) == [updates[3]]


async def test_raw_updates_follow_the_subscription(tg: FakeTelegram) -> None:
    tg.push_raw_update({"chat_member": {"broken": True}})  # not in Telegram's default set
    assert tg.pending_updates == []
    await raw_get_updates(tg, allowed_updates=["chat_member"])
    kept = tg.push_raw_update({"chat_member": {"broken": True}})
    assert await raw_get_updates(tg) == [kept]
    await raw_get_updates(tg, allowed_updates=["message"])  # a new subscription drops it
    assert tg.pending_updates == []
