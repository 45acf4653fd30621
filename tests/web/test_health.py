"""/healthz, /readyz (through a real database outage) and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import build_application
from bot.config import Settings
from bot.web.server import WebServer
from storage.models import Announcement, Delivery, Role
from tests import database, harness
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.web.conftest import an_event, free_port, someone


def samples(text: str) -> dict[str, float]:
    """Every sample of a Prometheus scrape, as 'name{labels}' -> value."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


async def scrape(http: httpx.AsyncClient) -> dict[str, float]:
    reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return samples(reply.text)


async def test_health_and_metrics_count_what_happens(
    bot: BotHarness, telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/healthz")).text == "ok"
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True, "schema": True, "telegram": True}

    before = await scrape(http)
    event = await an_event(bot)
    chat = telegram.person()
    await someone(bot, telegram_id=chat.user_id, name="สมชาย ใจดี")
    await chat.send(f"/checkin {event.code}")
    assert "✅" in ((await chat.next_reply()).text or "")
    telegram.fail_next("sendMessage", kind="502")
    await chat.send("/help")
    await chat.next_reply(timeout=10)
    await chat.press_data("hcr:1")  # a button nobody may press: answered all the same
    async with bot.sessions() as session:
        notice = Announcement(kind="notice", template="x")
        session.add(notice)
        await session.flush()
        # Due tomorrow: the dispatcher's next pass (however late this test runs) leaves them
        # pending, so the gauge below reads a known figure.
        tomorrow = bot.clock.now() + timedelta(days=1)
        for n, status in enumerate(("pending", "pending", "sent")):
            session.add(
                Delivery(
                    announcement_id=notice.id or 0,
                    chat_id=-n - 1,
                    status=status,
                    next_attempt_at=tomorrow,
                )
            )
        await session.commit()
    await bot.settle()
    after = await scrape(http)

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew('asa_checkins_total{method="code"}') == 1
    assert grew('asa_updates_received_total{type="message"}') == 2
    assert grew('asa_updates_processed_total{type="message"}') == 2
    assert grew('asa_updates_received_total{type="callback_query"}') == 1
    assert grew('asa_update_handling_seconds_count{type="message"}') == 2
    assert grew('asa_telegram_errors_total{kind="502"}') == 1
    assert after['asa_outbox_deliveries{status="pending"}'] == 2
    assert after['asa_outbox_deliveries{status="sent"}'] == 1
    assert after["asa_leader{}"] == 1
    assert after["asa_screen_streams{}"] == 0


async def test_not_ready_until_telegram_answered_get_me(
    settings: Settings, telegram: FakeTelegram
) -> None:
    application = build_application(settings)
    server = WebServer(application)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/healthz")).status_code == 200
            reply = await http.get("/readyz")
            assert reply.status_code == 503
            assert reply.json()["telegram"] is False
            assert reply.json()["database"] is True
    finally:
        await server.stop()
        await application.runtime.close()


class Outage:
    """A TCP proxy in front of PostgreSQL that can be cut (connections dropped, the port
    refusing) and restored: from the bot's side, the database goes away and comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        """Accept connections again."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


@pytest.fixture
async def proxied_database() -> AsyncIterator[tuple[str, Outage]]:
    """A migrated PostgreSQL database of this test's own, reached through a cuttable proxy."""
    url = await database.create_pg_scratch_database()
    await database.migrate(url)
    parts = urlsplit(url.replace("postgresql+asyncpg", "http"))
    outage = Outage((parts.hostname or "127.0.0.1", parts.port or 5432))
    await outage.restore()
    netloc = re.sub(r":\d+$", f":{outage.port}", parts.netloc)
    proxied = urlunsplit(("postgresql+asyncpg", netloc, parts.path, "", ""))
    try:
        yield proxied, outage
    finally:
        await outage.cut()
        await database.drop_pg_scratch(url)


async def test_readyz_follows_a_database_outage(
    telegram: FakeTelegram, proxied_database: tuple[str, Outage]
) -> None:
    url, outage = proxied_database
    settings = harness.test_settings(
        telegram=telegram,
        database_url=url,
        web={"listen": "127.0.0.1", "port": 0},
        database={"retry_seconds": 1},
    )
    bot = BotHarness(settings=settings, telegram=telegram)
    await bot.start()
    assert bot.application is not None
    server = WebServer(bot.application)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

            async def readiness(expected: int, seconds: float = 15) -> dict[str, bool]:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + seconds
                while True:
                    reply = await http.get("/readyz")
                    if reply.status_code == expected:
                        return dict(reply.json())
                    assert loop.time() < deadline, f"still {reply.status_code}: {reply.json()}"
                    await asyncio.sleep(0.2)

            assert (await readiness(200))["database"] is True
            await outage.cut()
            down = await readiness(503)
            assert down["database"] is False
            assert down["telegram"] is True
            assert (await http.get("/healthz")).status_code == 200  # alive all the same
            await outage.restore()
            assert (await readiness(200))["schema"] is True
            # The database is back for the bot too: it answers again.
            chat = telegram.person()
            await chat.send("/start")
            assert (await chat.next_reply(timeout=15)).text
    finally:
        await server.stop()
        with contextlib.suppress(Exception):
            await bot.stop()


async def test_the_web_port_in_use_is_one_sentence(
    settings: Settings, telegram: FakeTelegram, web: WebServer
) -> None:
    port = int(web.url.rsplit(":", 1)[1])
    taken = settings.model_copy(update={"web": settings.web.model_copy(update={"port": port})})
    application = build_application(taken)
    try:
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{port} .*\[web\]"):
            await WebServer(application).start()
    finally:
        await application.runtime.close()


async def test_metrics_hold_no_names_and_no_token(bot: BotHarness, http: httpx.AsyncClient) -> None:
    await someone(bot, telegram_id=1, name="ผู้จัด", roles=(Role.ORGANISER,))
    text = (await http.get("/metrics")).text
    assert "ผู้จัด" not in text
    assert bot.settings.telegram.token not in text
