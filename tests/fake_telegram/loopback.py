"""Serving an aiohttp application on an ephemeral 127.0.0.1 port (the fake, the balancer,
and the little backends tests put behind them)."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self

from aiohttp import web

# How long cleanup() lets in-flight handlers finish before aiohttp cancels them.
SHUTDOWN_GRACE = 0.5


async def serve(app: web.Application, *, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 (`port`, or a free one); returns its runner and port.

    `await runner.cleanup()` stops it. A request whose client hangs up stops being served
    (handler_cancellation), as behind a real server.
    """
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE, handler_cancellation=True
    )
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        bound = int(sock.getsockname()[1])
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    return runner, bound


class LoopbackService:
    """A server on a loopback port: `async with` starts and stops it; `port` once started."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The listening port (after start())."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started; call start() first")
        return self._port

    async def start(self) -> None:
        """Set up and call _listen(app)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Tear down and call _unlisten()."""
        raise NotImplementedError

    async def _listen(self, app: web.Application) -> None:
        """Serve `app` on a free port."""
        self._runner, self._port = await serve(app)

    async def _unlisten(self) -> None:
        """Stop serving (in-flight handlers get a short grace period)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
