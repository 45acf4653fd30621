"""A tiny round-robin HTTP reverse proxy on loopback, for webhook tests with bot replicas.

Put it between the fake's webhook pushes and several replicas, as a load balancer stands
in front of them in production::

    async with Balancer([replica_a.url, replica_b.url]) as balancer:
        await bot.set_webhook(f"{balancer.url}/telegram", secret_token=...)
        ...
        balancer.set_backends([replica_b.url])  # take replica A out of rotation

Each request (method, path and query, headers, body) goes to the next backend in turn;
a backend that refuses the connection is skipped for the next one, and when all refuse the
answer is 502. Any other failure (the backend hangs up mid-request, say) is a 502 without
trying another backend, as nginx does for non-idempotent requests. `forwards` records
what happened to every request.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from .loopback import LoopbackService

# Headers that belong to one connection, not to the request (RFC 9110 7.6.1), and those
# aiohttp computes itself.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Forward:
    """One request the balancer handled."""

    method: str
    path: str  # path and query string
    backend: str | None = None  # the backend that answered; None when none did
    status: int = 502  # what the balancer answered
    refused: list[str] = field(default_factory=list)  # backends skipped on the way


class Balancer(LoopbackService):
    """Round-robin reverse proxy on 127.0.0.1; `url` is its base URL."""

    def __init__(self, backends: Sequence[str] = ()) -> None:
        super().__init__()
        self.forwards: list[Forward] = []
        self._backends = [backend.rstrip("/") for backend in backends]
        self._turn = 0
        self._session: aiohttp.ClientSession | None = None

    @property
    def backends(self) -> list[str]:
        """The backend base URLs in rotation."""
        return list(self._backends)

    def set_backends(self, backends: Sequence[str]) -> None:
        """Replace the rotation; requests already forwarded are not affected."""
        self._backends = [backend.rstrip("/") for backend in backends]

    @property
    def url(self) -> str:
        """The base URL to send requests to, e.g. f"{balancer.url}/telegram"."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        # No keep-alive towards backends: a pooled connection to a backend that has since
        # stopped would fail mid-request instead of being refused (and skipped).
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        )
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        await self._listen(app)

    async def stop(self) -> None:
        """Stop listening and close connections to the backends."""
        await self._unlisten()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        """Send the request to the next backend that accepts a connection."""
        assert self._session is not None
        record = Forward(request.method, request.path_qs)
        self.forwards.append(record)
        body = await request.read()
        headers = _forwardable(request.headers)
        headers.add("X-Forwarded-For", request.remote or "")
        backends, first = self._backends, self._turn
        self._turn += 1
        for step in range(len(backends)):
            backend = backends[(first + step) % len(backends)]
            try:
                upstream = await self._session.request(
                    request.method,
                    backend + request.path_qs,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                )
            except aiohttp.ClientConnectorError as error:
                if error.os_error.errno != errno.ECONNREFUSED:
                    break
                record.refused.append(backend)
                continue
            except aiohttp.ClientError:
                break
            async with upstream:
                try:
                    payload = await upstream.read()
                except aiohttp.ClientError:
                    break
            record.backend, record.status = backend, upstream.status
            answer = _forwardable(upstream.headers)
            return web.Response(status=upstream.status, body=payload, headers=answer)
        return web.Response(status=502, text=_BAD_GATEWAY, content_type="text/html")


def _forwardable(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """The end-to-end headers of a request or answer (repeated ones kept)."""
    return CIMultiDict(
        (name, value) for name, value in headers.items() if name.lower() not in _NOT_FORWARDED
    )
