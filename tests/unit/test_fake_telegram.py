"""The fake Telegram server, exercised through the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    MessageOriginUser,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fake_telegram import TINY_PNG, FakeTelegram, Person, SentMessage
from tests.fake_telegram.formatting import parse_formatted
from tests.fake_telegram.testing import bot_fixture, tg_fixture  # noqa: F401 (fixtures)

AnyApp = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns when building RetryAfter unless opted in; warnings are errors here."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def known_person(tg: FakeTelegram, bot: Bot) -> Person:
    """A person who has written to the bot, with that update already consumed."""
    person = tg.person()
    await person.send("/start")
    updates = await bot.get_updates()
    await bot.get_updates(offset=updates[-1].update_id + 1)
    return person


async def settle(tg: FakeTelegram, app: AnyApp) -> None:
    """Every update processed by the application, then the fake quiescent (known conditions)."""
    await asyncio.wait_for(app.update_queue.join(), timeout=10)
    assert await tg.changed.wait_until(tg.quiescent, 10), tg.pending_report()


# ------------------------------------------------------------------ a real Application


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with an inline keyboard and a contact-request keyboard."""
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ลงทะเบียน", callback_data="join")]])
    await update.effective_message.reply_text(
        "<b>สวัสดี</b>", parse_mode="HTML", reply_markup=keyboard
    )
    contact = ReplyKeyboardMarkup([[KeyboardButton("แชร์เบอร์", request_contact=True)]])
    await update.effective_message.reply_text("ขอเบอร์โทรด้วยครับ", reply_markup=contact)


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press and edit the keyboard away."""
    query = update.callback_query
    assert query is not None
    await query.answer("รับทราบ")
    await query.edit_message_text(f"pressed {query.data}")


async def _contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm a shared contact, saying whose it is."""
    message = update.effective_message
    assert message is not None
    assert message.contact is not None
    own = message.contact.user_id == (update.effective_user and update.effective_user.id)
    await message.reply_text(
        f"phone {message.contact.phone_number} own={own}", reply_markup=ReplyKeyboardRemove()
    )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo text back in private chats only."""
    message = update.effective_message
    assert message is not None
    assert message.text is not None
    if message.chat.type == "private":
        await message.reply_text(message.text)


@pytest.fixture
async def app(tg: FakeTelegram) -> AsyncIterator[AnyApp]:
    """A real PTB Application polling the fake."""
    application = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", _start))
    application.add_handler(CallbackQueryHandler(_button))
    application.add_handler(MessageHandler(filters.CONTACT, _contact))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    yield application
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


async def test_application_echoes_a_persons_text(tg: FakeTelegram, app: AnyApp) -> None:
    somchai = tg.person(first_name="Somchai")
    await somchai.send("สวัสดีครับ")
    reply = await somchai.next_reply()
    assert reply.text == "สวัสดีครับ"
    assert reply.chat_id == somchai.chat_id
    assert reply.reply_to_message_id is None  # PTB quotes only in groups by default


async def test_application_handles_a_button_press(tg: FakeTelegram, app: AnyApp) -> None:
    somchai = tg.person()
    await somchai.send("/start")
    greeting, ask_contact = await somchai.replies(2)
    assert greeting.text == "สวัสดี"
    assert greeting.entities == [{"type": "bold", "offset": 0, "length": len("สวัสดี")}]
    assert greeting.buttons == [[("ลงทะเบียน", "join")]]
    assert ask_contact.keyboard is not None
    assert ask_contact.keyboard[0][0].request_contact

    await somchai.press("ลงทะเบียน")
    edited = await somchai.wait_for_edit(greeting)
    assert edited is greeting
    assert greeting.text == "pressed join"
    assert greeting.buttons == []  # editMessageText without reply_markup drops the keyboard
    assert somchai.callback_answers[0]["text"] == "รับทราบ"


async def test_application_receives_a_contact(tg: FakeTelegram, app: AnyApp) -> None:
    somchai = tg.person()
    await somchai.share_contact("66812345678")
    reply = await somchai.next_reply()
    assert reply.text == "phone 66812345678 own=True"
    assert reply.removes_keyboard

    await somchai.share_contact("+66811111111", user_id=None, first_name="Friend")
    assert (await somchai.next_reply()).text == "phone +66811111111 own=False"


async def test_application_stays_quiet_in_groups_and_channels(
    tg: FakeTelegram, app: AnyApp
) -> None:
    group = tg.group("อาสาสมัคร")
    channel = tg.channel("ประกาศ")
    await group.send(tg.person(), "hello group")
    await channel.post("announcement")
    await settle(tg, app)
    assert tg.world.updates.pending == 0  # both updates were delivered and confirmed
    delivered = [u for c in tg.calls_of("getUpdates") if c.ok for u in c.result]
    assert {"message", "channel_post"} <= {k for u in delivered for k in u}
    assert group.messages == []
    assert channel.messages == []


# ------------------------------------------------------------------ the bare Bot client


async def test_get_me_has_the_bot_only_fields(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == tg.bot_id
    assert me.is_bot
    assert me.username == "asa_test_bot"
    assert me.can_join_groups is True
    assert me.supports_inline_queries is False


async def test_send_message_with_inline_keyboard(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("A", callback_data="a"),
                InlineKeyboardButton("Web", url="https://x.org"),
            ]
        ]
    )
    message = await bot.send_message(person.chat_id, "pick", reply_markup=markup)
    assert message.reply_markup == markup
    assert message.from_user is not None
    assert message.from_user.id == tg.bot_id
    sent = tg.messages_to(person.chat_id)
    assert [m.message_id for m in sent] == [message.message_id]
    assert sent[0].buttons == [[("A", "a"), ("Web", "https://x.org")]]
    assert sent[0].button_texts == ["A", "Web"]
    assert (
        tg.calls_of("SENDMESSAGE")[0].params["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    )


async def test_edit_message_text_applies_in_place(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    message = await bot.send_message(person.chat_id, "one")
    edited = await bot.edit_message_text(
        "two", chat_id=person.chat_id, message_id=message.message_id
    )
    assert isinstance(edited, type(message))
    assert edited.edit_date is not None
    assert person.last is not None
    assert (person.last.text, person.last.edits) == ("two", 1)

    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("two", chat_id=person.chat_id, message_id=message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=person.chat_id, message_id=999)


async def test_send_photo_and_document_keep_their_bytes(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    photo = await bot.send_photo(person.chat_id, TINY_PNG, caption="<i>QR</i>", parse_mode="HTML")
    document = await bot.send_document(person.chat_id, "ชื่อ,เบอร์\n".encode(), filename="list.csv")

    assert photo.photo[-1].width == 1
    assert document.document is not None
    assert document.document.file_name == "list.csv"
    sent_photo, sent_document = person.messages
    assert (sent_photo.kind, sent_photo.caption, sent_photo.file_bytes) == ("photo", "QR", TINY_PNG)
    assert sent_document.kind == "document"
    assert sent_document.file_bytes == "ชื่อ,เบอร์\n".encode()
    downloaded = await (await bot.get_file(document.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == sent_document.file_bytes

    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(person.chat_id, b"not an image")


async def test_long_poll_answers_as_soon_as_an_update_arrives(tg: FakeTelegram, bot: Bot) -> None:
    person = tg.person()
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    assert await tg.world.updates_changed.wait(1.0)  # the poll arrived (arrivals fire it)
    await person.send("/start@asa_test_bot now")
    updates = await poll
    assert loop.time() - started < 2
    assert updates[0].message is not None
    assert updates[0].message.text == "/start@asa_test_bot now"
    assert updates[0].message.entities[0].length == len("/start@asa_test_bot")

    assert await bot.get_updates(offset=updates[-1].update_id) == updates  # not yet confirmed
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()


async def test_get_updates_respects_allowed_updates(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    await bot.send_message(
        person.chat_id,
        "menu",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("go", callback_data="go")]]),
    )
    await person.send("text")
    await person.press("go")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in updates] == [True]
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.data == "go"


# ------------------------------------------------------------------ errors as Telegram words them


async def test_injected_429_becomes_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    tg.fail_next("sendMessage", kind="429", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(person.chat_id, "x")
    assert caught.value.retry_after == dt.timedelta(seconds=7)
    assert tg.retry_after_count == 1
    await bot.send_message(person.chat_id, "x")  # only the next call failed
    assert [c.status for c in tg.calls_of("sendMessage")] == [429, 200]


async def test_injected_server_errors_and_timeouts(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    tg.fail_next("sendMessage", kind="500", chat_id=person.chat_id)
    with pytest.raises(NetworkError, match=r"(?i)Internal Server Error"):
        await bot.send_message(person.chat_id, "x")
    tg.fail_next("sendMessage", kind="timeout")
    with pytest.raises(TimedOut):
        await bot.send_message(person.chat_id, "x", read_timeout=0.2)
    assert tg.calls_of("sendMessage")[-1].status is None
    assert person.messages == []  # the dropped request did no work


async def test_blocked_chat_is_forbidden(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    tg.block(person.chat_id)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(person.chat_id, "x")
    tg.unblock(person.chat_id)
    assert (await bot.send_message(person.chat_id, "x")).text == "x"


async def test_text_limits(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(person.chat_id, "ก" * 4097)
    assert (await bot.send_message(person.chat_id, "ก" * 4096)).text == "ก" * 4096
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(person.chat_id, "  ")
    # The limit applies after parsing: markup does not count.
    assert await bot.send_message(person.chat_id, f"<b>{'a' * 4096}</b>", parse_mode="HTML")


async def test_callback_data_is_limited_in_bytes(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    thai = "ก" * 22  # 22 characters but 66 UTF-8 bytes
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data=thai)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(person.chat_id, "x", reply_markup=markup)
    assert person.messages == []


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>bold", "HTML", 'end tag corresponding to start tag "b"'),
        ("<b>x</i>", "HTML", 'end tag corresponding to start tag "b"'),
        ("a<br>b", "HTML", 'Unsupported start tag "br"'),
        ("Done.", "MarkdownV2", "Character '.' is reserved"),
        ("*bold", "MarkdownV2", "Can't find end of Bold entity"),
    ],
)
async def test_malformed_markup_cannot_be_parsed(
    tg: FakeTelegram, bot: Bot, text: str, parse_mode: str, error: str
) -> None:
    person = await known_person(tg, bot)
    with pytest.raises(BadRequest, match=r"(?i)Can't parse entities") as caught:
        await bot.send_message(person.chat_id, text, parse_mode=parse_mode)
    assert error.lower() in str(caught.value).lower()  # PTB lower-cases the description
    assert error in (tg.failed_calls[-1].description or "")  # the log keeps Telegram's wording


async def test_unknown_chat_method_and_token(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(123456, "hello stranger")
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    with pytest.raises(InvalidToken):
        # Entering initialises the bot with getMe, which the fake refuses for an unknown token.
        async with Bot("1:" + "x" * 35, base_url=tg.base_url):
            raise AssertionError("getMe should have been refused")
    assert [c.status for c in tg.calls[-3:]] == [400, 404, 401]


async def test_callback_queries_are_answered_once(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
    await bot.send_message(person.chat_id, "x", reply_markup=markup)
    query_id = await person.press("ok")
    assert await bot.answer_callback_query(query_id, "done", show_alert=True)
    assert person.callback_answers == [
        {
            "callback_query_id": query_id,
            "data": "ok",
            "text": "done",
            "show_alert": True,
            "url": None,
            "cache_time": None,
        }
    ]
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


async def test_per_chat_burst_is_flood_controlled() -> None:
    tg = FakeTelegram(per_chat_burst=20, per_chat_per_second=1.0)
    async with tg, Bot(tg.token, base_url=tg.base_url) as client:
        person = await known_person(tg, client)
        outcomes = await asyncio.gather(
            *(client.send_message(person.chat_id, f"#{i}") for i in range(25)),
            return_exceptions=True,
        )
    limited = [o for o in outcomes if isinstance(o, RetryAfter)]
    assert 4 <= len(limited) <= 5  # 20 burst tokens, at most one refilled meanwhile
    assert all(isinstance(o, RetryAfter | Message) for o in outcomes)
    assert tg.retry_after_count == len(limited)
    assert tg.count_to(person.chat_id) == 25 - len(limited)


# ------------------------------------------------------------------ settings and helpers


async def test_commands_per_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands([BotCommand("start", "เริ่ม")], scope=scope, language_code="th")
    assert tg.commands_for({"type": "all_private_chats"}, "th") == [
        {"command": "start", "description": "เริ่ม"}
    ]
    assert await bot.get_my_commands() == ()
    got = await bot.get_my_commands(scope=scope, language_code="th")
    assert [c.command for c in got] == ["start"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start", "x")])
    await bot.delete_my_commands(scope=scope, language_code="th")
    assert tg.commands == {}
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert tg.menu_button() == {"type": "commands"}


async def test_person_helpers_explain_failures(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    with pytest.raises(AssertionError, match=r"\(none\)"):
        await person.next_reply(timeout=0.05)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y")]])
    await bot.send_message(person.chat_id, "sure?", reply_markup=markup)
    with pytest.raises(AssertionError, match=r"\[\[\('Yes', 'y'\)\]\]"):
        await person.press("No")
    assert (await person.next_reply()).text == "sure?"


async def test_forwarded_message_and_reply(tg: FakeTelegram, bot: Bot) -> None:
    admin, volunteer = await known_person(tg, bot), tg.person(first_name="Malee")
    forwarded = await admin.forward_from(volunteer)
    await admin.send("/grant", reply_to=forwarded)
    updates = await bot.get_updates()
    grant = updates[-1].message
    assert grant is not None
    assert grant.reply_to_message is not None
    origin = grant.reply_to_message.forward_origin
    assert isinstance(origin, MessageOriginUser)
    assert origin.sender_user.id == volunteer.user_id


async def test_delete_message(tg: FakeTelegram, bot: Bot) -> None:
    person = await known_person(tg, bot)
    message = await bot.send_message(person.chat_id, "bye")
    assert await bot.delete_message(person.chat_id, message.message_id)
    assert person.messages[0].deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(person.chat_id, message.message_id)


def test_sent_message_keyboard_views() -> None:
    message = SentMessage(
        message_id=1,
        chat_id=1,
        date=0,
        text="x",
        reply_markup={"keyboard": [["plain", {"text": "loc", "request_location": True}]]},
    )
    assert message.keyboard_texts == ["plain", "loc"]
    assert message.keyboard is not None
    assert message.keyboard[0][1].request_location
    assert not message.removes_keyboard
    assert message.buttons == []


async def test_every_person_update_parses_in_ptb(tg: FakeTelegram, bot: Bot) -> None:
    person = tg.person(username="somchai_t")
    await person.send("ก่อนแก้")
    await person.edit_last("หลังแก้")
    await person.share_location(13.75, 100.5, live_period=600)
    await person.move_to(13.76, 100.51)
    await person.share_location(13.7, 100.4, forwarded=True)
    await person.send_photo(caption="รูป")
    await person.send_document("slip.pdf", b"%PDF-1.4")
    await person.send_voice()
    await person.send_sticker()
    await person.block_bot()
    updates = await bot.get_updates()

    edited = [u.edited_message for u in updates if u.edited_message is not None]
    assert [m.text for m in edited if m.text] == ["หลังแก้"]
    assert [m.location.latitude for m in edited if m.location] == [13.76]
    messages = [u.message for u in updates if u.message is not None]
    assert messages[2].forward_origin is not None  # the forwarded location
    assert messages[3].photo[-1].width == 1
    assert messages[4].document is not None
    document = await bot.get_file(messages[4].document.file_id)
    assert bytes(await document.download_as_bytearray()) == b"%PDF-1.4"
    assert messages[5].voice is not None
    assert messages[6].sticker is not None
    member = updates[-1].my_chat_member
    assert member is not None
    assert member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden):
        await bot.send_message(person.chat_id, "still there?")


async def test_settling_and_reply_keyboard_taps(tg: FakeTelegram, app: AnyApp) -> None:
    person = tg.person()
    await person.send("/start")
    await person.replies(2)
    assert person.reply_keyboard is not None
    with pytest.raises(AssertionError, match="share_contact"):
        await person.tap("แชร์เบอร์")
    await person.share_contact("0812345678")
    await settle(tg, app)
    assert person.reply_keyboard is None  # the bot's reply removed it
    assert tg.world.updates.pending == 0


async def test_a_polling_application_settles_to_quiescent(tg: FakeTelegram, app: AnyApp) -> None:
    person = tg.person()
    await person.send("สวัสดี")
    assert not tg.quiescent()
    await person.next_reply()
    # PTB confirms the update with its next poll, which then waits: quiescent, not busy.
    assert await tg.changed.wait_until(tg.quiescent, 5)
    assert tg.pending_updates == []


@pytest.mark.parametrize(
    ("source", "parse_mode", "text", "entities"),
    [
        (
            '<b>ตัวหนา <i>เอียง</i></b> &lt;3 &amp; <a href="https://t.me/x">link</a>',
            "HTML",
            "ตัวหนา เอียง <3 & link",
            [
                {"type": "bold", "offset": 0, "length": 12},
                {"type": "italic", "offset": 7, "length": 5},
                {"type": "text_link", "offset": 18, "length": 4, "url": "https://t.me/x"},
            ],
        ),
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            "HTML",
            "x = 1",
            [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
        ),
        (
            "*หนา* _เอียง_ __ขีด__ ||ซ่อน|| [ลิงก์](https://t.me/x?a=1\\)) `a\\`b` จบ\\.",
            "MarkdownV2",
            "หนา เอียง ขีด ซ่อน ลิงก์ a`b จบ.",
            [
                {"type": "bold", "offset": 0, "length": 3},
                {"type": "italic", "offset": 4, "length": 5},
                {"type": "underline", "offset": 10, "length": 3},
                {"type": "spoiler", "offset": 14, "length": 4},
                {"type": "text_link", "offset": 19, "length": 5, "url": "https://t.me/x?a=1)"},
                {"type": "code", "offset": 25, "length": 3},
            ],
        ),
        (
            "*bold* _it_ [l](https://x.org) 1.5",
            "Markdown",
            "bold it l 1.5",
            [
                {"type": "bold", "offset": 0, "length": 4},
                {"type": "italic", "offset": 5, "length": 2},
                {"type": "text_link", "offset": 8, "length": 1, "url": "https://x.org"},
            ],
        ),
        ("😀 <b>x</b>", "HTML", "😀 x", [{"type": "bold", "offset": 3, "length": 1}]),
    ],
)
def test_formatting_matches_telegram(
    source: str, parse_mode: str, text: str, entities: list[dict[str, Any]]
) -> None:
    assert parse_formatted(source, parse_mode) == (text, entities)
