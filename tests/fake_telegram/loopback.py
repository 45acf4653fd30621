"""Serving an aiohttp application on an ephemeral 127.0.0.1 port (the fake, the balancer,
and the little backends tests put behind them)."""

from __future__ import annotations

import socket

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
