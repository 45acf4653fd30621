"""uvicorn, run as one more task in the bot's event loop (never its own loop or signals)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn

from bot.context import AsaApplication
from bot.web.app import WebApp

_log = logging.getLogger(__name__)

# Open streams (screens, dashboards) are ended by the hub first; anything else gets this long.
GRACEFUL_SECONDS = 3


class WebListenError(OSError):
    """The web server cannot listen where [web] says; the message is one sentence."""


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling: the bot's entry point owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave SIGINT and SIGTERM to python -m bot (bot/app.py:serve)."""
        yield


class WebServer:
    """The web application, listening, in this event loop."""

    def __init__(self, application: AsaApplication) -> None:
        web = application.runtime.settings.web
        self.web = WebApp(application)
        config = uvicorn.Config(
            self.web.asgi,
            host=web.listen,
            port=web.port,
            lifespan="off",
            # Paths carry capabilities (screen and login links): never logged.
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """http://host:port this server listens on (the real port when 0 was asked)."""
        for server in self.server.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                host = f"[{host}]" if ":" in host else host
                return f"http://{host}:{port}"
        raise RuntimeError("the web server is not listening")

    def _socket(self) -> socket.socket:
        """The listening socket, bound here so that a taken port is an OSError, not an exit."""
        host, port = self.server.config.host, self.server.config.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as error:
            sock.close()
            raise WebListenError(
                f"The web server cannot listen on {host}:{port} ({error.strerror}): change "
                "[web] listen or port, or stop what uses it."
            ) from error
        return sock

    async def start(self) -> None:
        """Listen; return once requests are accepted."""
        sock = self._socket()
        self.web.hub.start()
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]), name="asa-web")
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise WebListenError("The web server stopped while starting; see the log above.")
            await asyncio.sleep(0.02)
        _log.info("web pages at %s", self.url)

    async def stop(self) -> None:
        """End the live streams, then stop accepting and finish what is in flight."""
        await self.web.hub.close()
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@contextlib.asynccontextmanager
async def serving(application: AsaApplication) -> AsyncIterator[WebServer]:
    """The web server for a bot, for as long as the block runs."""
    server = WebServer(application)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
