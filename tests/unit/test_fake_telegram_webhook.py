"""Webhooks as Telegram does them: setWebhook, pushes and retries, getWebhookInfo, going back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, RetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.loopback import serve
from tests.fake_telegram.updates import Signal
from tests.fake_telegram.webhook import SECRET_HEADER

SECRET = "s3cr3t_-X"


class Receiver:
    """A webhook endpoint on loopback that records what it gets and answers as told."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.answers: list[int] = []  # statuses to answer, in order; then 200
        self.retry_after: str | None = None  # a Retry-After header for failed answers
        self.gate = asyncio.Event()  # requests wait until it is set
        self.gate.set()
        self.waiting = 0
        self.changed = Signal()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner, port = await serve(app)
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def update_ids(self) -> list[int]:
        """The update_id of every request received, in arrival order."""
        return [body["update_id"] for body in self.bodies]

    async def _handle(self, request: web.Request) -> web.Response:
        """Record the update, wait at the gate, answer the next scripted status."""
        self.bodies.append(await request.json())
        self.secrets.append(request.headers.get(SECRET_HEADER))
        self.waiting += 1
        self.changed.fire()
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
            self.changed.fire()
        status = self.answers.pop(0) if self.answers else 200
        headers = {"Retry-After": self.retry_after} if self.retry_after and status >= 300 else {}
        return web.Response(status=status, headers=headers)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A fake with quick webhook timeouts and retries, and no flood control."""
    fake = FakeTelegram(
        rate_limits=False, webhook_timeout=0.3, webhook_retry_initial=0.02, webhook_retry_max=0.1
    )
    async with fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """A PTB Bot talking to the fake."""
    async with Bot(tg.token, base_url=tg.base_url) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running webhook endpoint."""
    hook = Receiver()
    await hook.start()
    yield hook
    hook.gate.set()
    await hook.stop()


async def call_raw(tg: FakeTelegram, method: str, **params: Any) -> dict[str, Any]:
    """A Bot API call without PTB, to see the whole answer (description included)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.base_url}{tg.token}/{method}", json=params) as response,
    ):
        answer: dict[str, Any] = await response.json()
    return answer


async def settled(tg: FakeTelegram, seconds: float = 3) -> None:
    """Wait until the fake is quiescent (every update acknowledged, nothing in flight)."""
    assert await tg.changed.wait_until(tg.quiescent, seconds), tg.pending_report()


async def test_updates_are_pushed_with_the_secret_and_forgotten_on_2xx(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    assert await bot.set_webhook(
        receiver.url, secret_token=SECRET, max_connections=5, allowed_updates=["message"]
    )
    person = tg.person()
    await person.send("/start")
    await settled(tg)

    [body] = receiver.bodies
    assert body["message"]["text"] == "/start"
    assert Update.de_json(body, bot).message is not None
    assert receiver.secrets == [SECRET]
    [delivery] = tg.webhook_deliveries
    assert (delivery.update_id, delivery.url, delivery.status) == (
        body["update_id"],
        receiver.url,
        200,
    )
    assert delivery.ok
    assert delivery.ended is not None
    assert delivery.started <= delivery.ended
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (receiver.url, 0, 5)
    assert info.allowed_updates == ("message",)
    assert info.last_error_date is None
    assert info.has_custom_certificate is False


async def test_get_updates_conflicts_while_a_webhook_is_set(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    held = asyncio.create_task(bot.get_updates(timeout=5))
    assert await tg.changed.wait_until(lambda: tg.api.held_polls == 1, 2)
    await bot.set_webhook(receiver.url)
    with pytest.raises(Conflict, match="terminated by setWebhook request"):
        await held
    answer = await call_raw(tg, "getUpdates")
    assert answer == {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    }


async def test_a_failed_delivery_is_retried_with_backoff_and_reported(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.answers = [500, 502, 302]
    await bot.set_webhook(receiver.url)
    await tg.person().send("/start")
    await settled(tg)

    assert len(set(receiver.update_ids)) == 1
    outcomes = [(d.status, d.error) for d in tg.webhook_deliveries]
    assert outcomes == [
        (500, "Wrong response from the webhook: 500 Internal Server Error"),
        (502, "Wrong response from the webhook: 502 Bad Gateway"),
        (302, "Wrong response from the webhook: 302 Found"),  # redirects are not followed
        (200, None),
    ]
    gaps = [
        later.started - (earlier.ended or 0)
        for earlier, later in zip(tg.webhook_deliveries, tg.webhook_deliveries[1:], strict=False)
    ]
    assert gaps[0] >= 0.02 * 0.9  # retry_initial, then doubling
    assert gaps[1] >= 0.04 * 0.9
    assert gaps[2] >= 0.08 * 0.9
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 302 Found"
    assert info.last_error_date is not None
    assert info.pending_update_count == 0


async def test_a_retry_after_header_sets_the_next_attempt(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.answers, receiver.retry_after = [429], "1"
    await bot.set_webhook(receiver.url)
    await tg.person().send("/start")
    await settled(tg, 5)
    first, second = tg.webhook_deliveries
    assert first.status == 429
    assert second.started - (first.ended or 0) >= 0.9


async def test_timeouts_and_refused_connections_are_retried(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()  # hold the first request past the fake's 0.3 s timeout
    await bot.set_webhook(receiver.url)
    await tg.person().send("/start")
    assert await tg.changed.wait_until(lambda: bool(tg.webhook.last_error_message), 3)
    assert tg.webhook_deliveries[0].error == "Read timeout expired"
    assert tg.webhook_deliveries[0].status is None
    receiver.gate.set()
    await settled(tg)
    assert tg.webhook_deliveries[-1].ok

    await receiver.stop()  # nobody listens any more
    before = len(tg.webhook_deliveries)
    await tg.person().send("/start")

    def failures() -> list[str | None]:
        return [d.error for d in tg.webhook_deliveries[before:] if d.ended is not None]

    assert await tg.changed.wait_until(lambda: len(failures()) >= 2, 3)
    assert set(failures()) == {"Connection refused"}
    assert not tg.quiescent()
    info = await bot.get_webhook_info()
    assert (info.pending_update_count, info.last_error_message) == (1, "Connection refused")


async def test_delete_webhook_switches_back_to_get_updates(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    await bot.set_webhook(receiver.url)
    person = tg.person()
    await person.send("ค้าง")
    assert await receiver.changed.wait_until(lambda: receiver.waiting == 1, 3)
    answer = await call_raw(tg, "deleteWebhook")
    assert answer == {"ok": True, "result": True, "description": "Webhook was deleted"}
    # The delivery in flight was abandoned: the update waits for getUpdates, unacknowledged.
    assert await tg.changed.wait_until(lambda: tg.webhook.in_flight == 0, 2)
    assert tg.webhook_deliveries[0].error == "the webhook was deleted"
    await person.send("ต่อ")
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["ค้าง", "ต่อ"]
    assert len(tg.webhook_deliveries) == 1  # nothing pushed after deleteWebhook
    assert (await bot.get_webhook_info()).url == ""
    again = await call_raw(tg, "deleteWebhook")
    assert again["description"] == "Webhook is already deleted"


async def test_pending_updates_wait_for_a_webhook_and_can_be_dropped(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    person = tg.person()
    await person.send("หนึ่ง")
    await person.send("สอง")
    assert (await bot.get_webhook_info()).pending_update_count == 2  # nobody polls, no hook
    await bot.set_webhook(receiver.url)
    await settled(tg)
    assert [b["message"]["text"] for b in receiver.bodies] == ["หนึ่ง", "สอง"]

    receiver.gate.clear()
    await person.send("สาม")
    assert await receiver.changed.wait_until(lambda: receiver.waiting == 1, 3)
    await person.send("ทิ้ง")
    await bot.delete_webhook(drop_pending_updates=True)
    assert tg.pending_updates == []
    assert await bot.get_updates() == ()
    await person.send("ห้า")
    await bot.set_webhook(receiver.url, drop_pending_updates=True)
    assert tg.pending_updates == []


async def test_max_connections_limits_deliveries_in_flight_in_update_id_order(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    await bot.set_webhook(receiver.url, max_connections=2)
    for n in range(5):
        await tg.person(first_name=f"P{n}").send(f"#{n}")  # five chats: five queues
    assert await receiver.changed.wait_until(lambda: receiver.waiting == 2, 3)
    assert tg.webhook.in_flight == 2
    assert not tg.quiescent()
    receiver.gate.set()
    await settled(tg)
    started = [d.update_id for d in tg.webhook_deliveries]
    assert started == sorted(started)
    assert sorted(receiver.update_ids) == started
    assert len(started) == 5


async def test_one_chat_gets_its_updates_one_at_a_time(
    tg: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    await bot.set_webhook(receiver.url)
    person = tg.person()
    for text in ("หนึ่ง", "สอง", "สาม"):
        await person.send(text)
    go = InlineKeyboardMarkup([[InlineKeyboardButton("go", callback_data="go")]])
    await bot.send_message(person.chat_id, "ปุ่ม", reply_markup=go)
    await person.press("go")  # presses are a queue of their own, as on Telegram
    assert await receiver.changed.wait_until(lambda: receiver.waiting == 2, 3)
    kinds = sorted(next(k for k in body if k != "update_id") for body in receiver.bodies)
    assert kinds == ["callback_query", "message"]
    receiver.gate.set()
    await settled(tg)
    texts = [b["message"]["text"] for b in receiver.bodies if "message" in b]
    assert texts == ["หนึ่ง", "สอง", "สาม"]


async def test_without_per_chat_order_everything_goes_at_once(receiver: Receiver) -> None:
    fake = FakeTelegram(rate_limits=False, webhook_per_chat_order=False)
    async with fake, Bot(fake.token, base_url=fake.base_url) as client:
        receiver.gate.clear()
        await client.set_webhook(receiver.url)
        person = fake.person()
        for text in ("หนึ่ง", "สอง", "สาม"):
            await person.send(text)
        assert await receiver.changed.wait_until(lambda: receiver.waiting == 3, 3)
        receiver.gate.set()
        assert await fake.changed.wait_until(fake.quiescent, 3)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"url": "http://bot.example.com/hook"}, "An HTTPS URL must be provided for webhook"),
        ({"url": "https://bot.example.com:8080/hook"}, "only on ports 80, 88, 443 or 8443"),
        ({"url": "ftp://bot.example.com/hook"}, "invalid webhook URL specified"),
        ({"url": "https://x.org", "secret_token": "a+b"}, "contains unallowed characters"),
        ({"url": "https://x.org", "secret_token": "a" * 257}, "secret token is too long"),
    ],
)
async def test_set_webhook_validates_like_telegram(
    tg: FakeTelegram, params: dict[str, Any], error: str
) -> None:
    answer = await call_raw(tg, "setWebhook", **params)
    assert answer["error_code"] == 400
    assert error in answer["description"]
    assert answer["description"].startswith("Bad Request: ")
    assert tg.webhook.url == ""


async def test_set_webhook_clamps_max_connections_and_says_what_changed(
    tg: FakeTelegram, receiver: Receiver
) -> None:
    set_once = await call_raw(tg, "setWebhook", url=receiver.url, max_connections=0)
    assert set_once == {"ok": True, "result": True, "description": "Webhook was set"}
    assert tg.webhook.max_connections == 1
    same = await call_raw(tg, "setWebhook", url=receiver.url, max_connections=0)
    assert same["description"] == "Webhook is already set"
    await call_raw(tg, "setWebhook", url=receiver.url, max_connections=500)
    info = (await call_raw(tg, "getWebhookInfo"))["result"]
    assert info["max_connections"] == 100
    assert info["ip_address"] == "127.0.0.1"
    assert "allowed_updates" not in info  # Telegram's default subscription is not listed


async def test_set_webhook_is_flood_controlled_like_telegram(receiver: Receiver) -> None:
    async with FakeTelegram() as fake, Bot(fake.token, base_url=fake.base_url) as client:
        assert await client.set_webhook(receiver.url)
        with pytest.raises(RetryAfter):
            await client.set_webhook(receiver.url)  # within a second, even unchanged
        assert await client.delete_webhook()  # removing is never limited
        fake.set_rate_limits(enabled=False)
        assert await client.set_webhook(receiver.url)


async def test_ptb_sees_a_refused_webhook_as_bad_request(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        await bot.set_webhook("http://example.org/hook")
    assert tg.webhook_deliveries == []


# ------------------------------------------------------------------ a real PTB Application


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo a text."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"echo {update.effective_message.text}")


async def test_a_ptb_application_behind_the_webhook_answers(tg: FakeTelegram) -> None:
    application: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(tg.token).base_url(tg.base_url).updater(None).build()
    )
    application.add_handler(MessageHandler(filters.TEXT, _echo))

    async def intake(request: web.Request) -> web.Response:
        """What a webhook server does: check the secret, hand the update over, say 200."""
        if request.headers.get(SECRET_HEADER) != SECRET:
            return web.Response(status=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram", intake)
    runner, port = await serve(app)
    async with application:
        await application.start()
        try:
            await application.bot.set_webhook(
                f"http://127.0.0.1:{port}/telegram", secret_token=SECRET
            )
            person = tg.person()
            await person.send("สวัสดี")
            assert (await person.next_reply()).text == "echo สวัสดี"
            await settled(tg)
        finally:
            await application.stop()
            await runner.cleanup()
