"""A fake Telegram Bot API server and simulated users, for end-to-end tests.

The real python-telegram-bot client talks to it over HTTP on 127.0.0.1, in the test's own
event loop, so everything between the bot's handlers and the wire is exercised::

    async with FakeTelegram() as tg:
        app = (
            ApplicationBuilder()
            .token(tg.token)
            .base_url(tg.base_url)
            .base_file_url(tg.base_file_url)
            .build()
        )
        ...  # await app.initialize(); await app.start(); await app.updater.start_polling(...)
        somchai = tg.person(first_name="Somchai")
        await somchai.send("/start")
        reply = await somchai.next_reply()
        await somchai.press("ลงทะเบียน")        # an inline button, by text or callback_data
        await somchai.wait_for_edit(reply)

Replies are read through a per-person cursor (`next_reply`, `replies`, `wait_for`); every
message the bot sent is also in `tg.sent` / `person.messages`, as `SentMessage` records that
edits update in place. `SentMessage.text` is what the user sees (HTML/Markdown parsed away);
`raw_text` is what the bot sent.

Like Telegram, the fake validates requests (text length, parse errors, callback_data bytes,
unknown chats, "message is not modified", ...) and answers 400/403/429 with Telegram's
wording. Faults: `block()`, `fail_next(method, kind="429"|"500"|"502"|"timeout")`, and
token-bucket flood control (`rate_limits=True`; tune or switch off with `set_rate_limits`).
Every request is logged in `tg.calls`; `await tg.wait_idle()` waits until the bot has fetched
all updates and gone quiet.

PTB 22 warns (PTBDeprecationWarning) whenever it builds a RetryAfter unless the environment
has PTB_TIMEDELTA=true; with filterwarnings=error, set it before provoking 429s.
"""

from .errors import ApiError
from .methods import command_scope_key
from .models import ApiCall, ReplyButton, SentMessage, UserMessage
from .people import SELF, TINY_PNG, Channel, Group, Person
from .server import DEFAULT_TOKEN, FakeTelegram

__all__ = [
    "DEFAULT_TOKEN",
    "SELF",
    "TINY_PNG",
    "ApiCall",
    "ApiError",
    "Channel",
    "FakeTelegram",
    "Group",
    "Person",
    "ReplyButton",
    "SentMessage",
    "UserMessage",
    "command_scope_key",
]
