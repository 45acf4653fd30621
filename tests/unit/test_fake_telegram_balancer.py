"""The round-robin balancer that tests put between the fake's webhook and bot replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot

from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.balancer import Balancer
from tests.fake_telegram.loopback import serve
from tests.fake_telegram.webhook import SECRET_HEADER


class Backend:
    """A tiny aiohttp app that answers with its name and what it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, Any]] = []
        self.url = ""
        self.hang_up = False  # drop the connection instead of answering
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, port = await serve(app)
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop listening: connections to its port are refused from now on."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request; answer 201 with a JSON echo and a header of our own."""
        seen = {
            "method": request.method,
            "path": request.path_qs,
            "secret": request.headers.get(SECRET_HEADER),
            "forwarded_for": request.headers.get("X-Forwarded-For"),
            "body": await request.read(),
        }
        self.seen.append(seen)
        if self.hang_up and request.transport is not None:
            request.transport.close()
            return web.Response(status=204)
        answer = {"backend": self.name, "method": seen["method"], "path": seen["path"]}
        return web.json_response(answer, status=201, headers={"X-Backend": self.name})


@pytest.fixture
async def backends() -> AsyncIterator[tuple[Backend, Backend]]:
    """Two running backends."""
    pair = (Backend("a"), Backend("b"))
    for backend in pair:
        await backend.start()
    yield pair
    for backend in pair:
        await backend.stop()


@pytest.fixture
async def balancer(backends: tuple[Backend, Backend]) -> AsyncIterator[Balancer]:
    """A balancer over both backends."""
    async with Balancer([backend.url for backend in backends]) as proxy:
        yield proxy


async def send(
    balancer: Balancer, path: str, *, method: str = "POST", body: bytes = b"{}"
) -> tuple[int, dict[str, str], bytes]:
    """One request through the balancer: status, headers, body."""
    headers = {SECRET_HEADER: "tok", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, balancer.url + path, data=body, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_requests_go_to_each_backend_in_turn_unchanged(
    balancer: Balancer, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    answers = [
        await send(balancer, f"/hook/{n}?x={n}", body=f'{{"n":{n}}}'.encode()) for n in range(4)
    ]
    assert [headers["X-Backend"] for _, headers, _ in answers] == ["a", "b", "a", "b"]
    assert {status for status, _, _ in answers} == {201}  # the backend's own status
    assert [seen["path"] for seen in a.seen] == ["/hook/0?x=0", "/hook/2?x=2"]
    assert [seen["body"] for seen in b.seen] == [b'{"n":1}', b'{"n":3}']
    assert {seen["secret"] for seen in a.seen + b.seen} == {"tok"}
    assert {seen["forwarded_for"] for seen in a.seen} == {"127.0.0.1"}
    _, _, body = await send(balancer, "/x", method="PUT", body=b"")
    assert b'"method": "PUT"' in body
    assert [(f.backend, f.status) for f in balancer.forwards][:2] == [(a.url, 201), (b.url, 201)]


async def test_a_stopped_backend_is_skipped(
    balancer: Balancer, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    await b.stop()
    statuses = [(await send(balancer, "/hook"))[0] for _ in range(4)]
    assert statuses == [201] * 4
    assert len(a.seen) == 4
    assert [f.refused for f in balancer.forwards] == [[], [b.url], [], [b.url]]


async def test_all_backends_refusing_is_a_bad_gateway(
    balancer: Balancer, backends: tuple[Backend, Backend]
) -> None:
    for backend in backends:
        await backend.stop()
    status, _, body = await send(balancer, "/hook")
    assert status == 502
    assert b"502 Bad Gateway" in body
    assert balancer.forwards[-1].backend is None
    assert len(balancer.forwards[-1].refused) == 2


async def test_a_backend_hanging_up_is_not_retried_elsewhere(
    balancer: Balancer, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    a.hang_up = True
    status, _, _ = await send(balancer, "/hook")
    assert status == 502  # the request may have been acted on: never send it twice
    assert (len(a.seen), len(b.seen)) == (1, 0)


async def test_set_backends_changes_the_rotation(
    balancer: Balancer, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    balancer.set_backends([b.url + "/"])
    assert balancer.backends == [b.url]
    for _ in range(3):
        await send(balancer, "/hook")
    assert (len(a.seen), len(b.seen)) == (0, 3)
    balancer.set_backends([])
    assert (await send(balancer, "/hook"))[0] == 502


async def test_webhook_updates_reach_replicas_through_the_balancer(
    balancer: Balancer, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    async with (
        FakeTelegram(rate_limits=False, webhook_retry_initial=0.01) as tg,
        Bot(tg.token, base_url=tg.base_url) as bot,
    ):
        await bot.set_webhook(f"{balancer.url}/telegram", secret_token="tok", max_connections=1)
        for n in range(4):
            await tg.person(first_name=f"P{n}").send(f"#{n}")
        assert await tg.changed.wait_until(tg.quiescent, 3), tg.pending_report()
        assert (len(a.seen), len(b.seen)) == (2, 2)  # one at a time: strictly alternating

        await a.stop()  # a replica goes down: the balancer skips it, nothing is lost
        for n in range(4):
            await tg.person(first_name=f"Q{n}").send(f"#{n}")
        assert await tg.changed.wait_until(tg.quiescent, 3), tg.pending_report()
        assert len(b.seen) == 6
        assert all(d.ok for d in tg.webhook_deliveries)
