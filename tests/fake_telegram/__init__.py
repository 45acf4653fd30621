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
Every request is logged in `tg.calls`. `tg.push_raw_update(payload)` queues any update
body, malformed ones included (the fake adds the next update_id unless it has one), for
fault tests; `tg.pending_updates` lists what is not confirmed yet.

Settling: never wait for a quiet moment. `tg.quiescent()` is True when every update was
confirmed by a later getUpdates offset (or acknowledged by the webhook with a 2xx), no
request is being served except long polls waiting for updates, and no webhook delivery is
in flight. `tg.changed` (a `Signal`) fires on every change it depends on (request start
and end, update pushed or confirmed, poll held or released, delivery start and end), so::

    assert await tg.changed.wait_until(tg.quiescent, 5), tg.pending_report()

quiescent() only speaks for the Telegram side: add the bot's own "nothing queued, nothing
running" to know the bot is done (tests/harness.py:BotHarness.settle does both). Silence is
never proof: a bot busy with its database makes no request.

Webhooks work as on Telegram: `setWebhook` (url, secret_token, allowed_updates,
max_connections 1-100 (default 40), drop_pending_updates; certificate is accepted and
ignored, ip_address only shows in getWebhookInfo), `deleteWebhook` and `getWebhookInfo`,
and getUpdates answers 409 while one is set. Loopback URLs may be plain HTTP on any port.
The fake POSTs each update as JSON with X-Telegram-Bot-Api-Secret-Token, one chat (or one
user's button presses) at a time and in order, other chats in parallel up to
max_connections, lowest update_id first; an update is forgotten only on a 2xx, and retried
otherwise (non-2xx, refused, timeout) with doubling backoff. Tune with
`FakeTelegram(webhook_timeout=10.0, webhook_retry_initial=0.05, webhook_retry_max=2.0,
webhook_per_chat_order=True)`; `tg.webhook_deliveries` records every POST (update_id, url,
status or error, started and ended loop times). With flood control on, a second setWebhook
within a second gets a 429, as several replicas each setting the webhook at start-up would.
To put several replicas behind the webhook, `Balancer([replica_a_url, replica_b_url])`
(balancer.py) is a round-robin reverse proxy on loopback that skips a replica refusing
connections::

    async with Balancer([a.url, b.url]) as balancer:
        await bot.set_webhook(f"{balancer.url}/telegram", secret_token="s3cret")

`testing.py` has `offline_bot()` (a Bot that parses but never connects) and fixtures.

PTB 22 warns (PTBDeprecationWarning) whenever it builds a RetryAfter unless the environment
has PTB_TIMEDELTA=true; with filterwarnings=error, set it before provoking 429s.
"""

from .balancer import Balancer
from .errors import ApiError
from .methods import command_scope_key
from .models import ApiCall, ReplyButton, SentMessage, UserMessage
from .people import SELF, TINY_PNG, Channel, Group, Person
from .server import DEFAULT_TOKEN, FakeTelegram
from .updates import Signal
from .webhook import WebhookDelivery

__all__ = [
    "DEFAULT_TOKEN",
    "SELF",
    "TINY_PNG",
    "ApiCall",
    "ApiError",
    "Balancer",
    "Channel",
    "FakeTelegram",
    "Group",
    "Person",
    "ReplyButton",
    "SentMessage",
    "Signal",
    "UserMessage",
    "WebhookDelivery",
    "command_scope_key",
]
