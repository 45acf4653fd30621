"""PostgreSQL LISTEN on a connection of its own, kept open for as long as it is wanted.

Three parts of asa follow what other replicas commit: the inbox (a new webhook update), the
outbox (a new notice or announcement for the leader to send) and the live pages (an event's
counts changed). Each runs `listen(...)` as a task and cancels it to stop. NOTIFY is delivered
at commit, so a listener never sees work that is not yet visible; a notification lost while
the connection was down is made up for by `on_connected`, which looks at the tables again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL

_log = logging.getLogger(__name__)

RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)

OnNotify = Callable[[str], None]


def dsn_of(url: URL) -> str:
    """A libpq address for asyncpg, from SQLAlchemy's `postgresql+asyncpg://...` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(
    url: URL,
    channel: str,
    on_notify: OnNotify,
    *,
    on_connected: Callable[[], None] | None = None,
    on_state: Callable[[bool], None] | None = None,
) -> None:
    """LISTEN on `channel` until cancelled; reconnect (with backoff) whenever it is lost.

    `on_notify(payload)` runs for each notification; `on_connected()` after each (re)connection,
    for anything missed meanwhile; `on_state(listening)` whenever listening starts or stops.
    """
    import asyncpg

    attempt = 0
    while True:
        connection: Any = None
        try:
            connection = await asyncpg.connect(dsn_of(url))
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c, lost=lost: lost.set())
            await connection.add_listener(
                channel, lambda _c, _pid, _channel, payload: on_notify(payload)
            )
            attempt = 0
            if on_state is not None:
                on_state(True)
            if on_connected is not None:
                on_connected()
            await lost.wait()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            _log.warning("%s notifications: not listening (%s)", channel, type(error).__name__)
        finally:
            if on_state is not None:
                on_state(False)
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
        await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
        attempt += 1
