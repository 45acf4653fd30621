"""Webhook delivery as Telegram does it: POST each update, forget it on 2xx, retry otherwise.

Like the Bot API server (tdlib/telegram-bot-api, WebhookActor), updates are delivered
through per-chat queues: the updates of one chat (messages, edits, posts), of one user's
button presses, of one chat's membership, ... go one at a time and in order, while different
queues are delivered in parallel, at most `max_connections` at once. A queue whose head
failed waits for its retry; the others go on. Among the updates ready to go, the lowest
update_id starts first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import aiohttp

from .updates import QueuedUpdate, Signal, UpdateQueue, update_type

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_MAX_CONNECTIONS = 40
_MESSAGE_KINDS = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_message",
        "edited_business_message",
    }
)
_MAX_RETRY_AFTER = 3600  # Telegram's cap on a Retry-After header it honours


@dataclass
class WebhookDelivery:
    """One POST of an update to the webhook (loop times, as asyncio's clock gives them)."""

    update_id: Any  # as the update carries it (raw updates may carry anything)
    url: str
    started: float
    ended: float | None = None  # None while in flight
    status: int | None = None  # the HTTP answer; None without one (refused, timeout, ...)
    error: str | None = None  # why it did not count as delivered; None when it did

    @property
    def ok(self) -> bool:
        """Whether the webhook answered 2xx, so the update was forgotten."""
        return self.error is None and self.status is not None and 200 <= self.status <= 299


def delivery_queue(update: dict[str, Any]) -> Hashable | None:
    """The queue an update waits in, as Telegram groups them; None: a queue of its own."""
    kind = update_type(update)
    payload = update.get(kind) if kind else None
    if not isinstance(payload, dict):
        return None
    if kind in _MESSAGE_KINDS or kind in ("my_chat_member", "message_reaction"):
        family = "chat" if kind in _MESSAGE_KINDS else kind
        return _keyed(family, payload.get("chat"))
    if kind == "callback_query":
        return _keyed("presses", payload.get("from"))
    if kind == "chat_member":
        return _keyed("member", (payload.get("new_chat_member") or {}).get("user"))
    if kind == "chat_join_request":
        return _keyed("member", payload.get("from"))
    return None


def _keyed(family: str, owner: Any) -> Hashable | None:
    """(family, id) when `owner` is an object with an id."""
    owner_id = owner.get("id") if isinstance(owner, dict) else None
    return (family, owner_id) if isinstance(owner_id, int) else None


class WebhookPusher:
    """Pushes pending updates to the webhook URL while one is set."""

    def __init__(
        self,
        queue: UpdateQueue,
        changed: Signal,
        unix_now: Callable[[], int],
        *,
        timeout: float,
        retry_initial: float,
        retry_max: float,
        per_chat_order: bool = True,
    ) -> None:
        self.timeout = timeout  # seconds a delivery may take before it counts as failed
        self.retry_initial = retry_initial  # the first retry's delay; it doubles per failure
        self.retry_max = retry_max  # the longest delay between retries of one update
        self.per_chat_order = per_chat_order  # False: every update is a queue of its own
        self.url = ""
        self.secret_token = ""
        self.max_connections = DEFAULT_MAX_CONNECTIONS
        self.ip_address: str | None = None
        self.last_error_date = 0  # unix time of the latest failed delivery, 0: none
        self.last_error_message = ""
        self.deliveries: list[WebhookDelivery] = []
        self._queue = queue
        self._changed = changed
        self._unix_now = unix_now
        self._sending: dict[QueuedUpdate, tuple[asyncio.Task[int | None], WebhookDelivery]] = {}
        self._failures: dict[QueuedUpdate, int] = {}
        self._retry_at: dict[QueuedUpdate, float] = {}
        self._runner: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def in_flight(self) -> int:
        """Deliveries waiting for the webhook's answer."""
        return len(self._sending)

    def configure(
        self, *, url: str, secret_token: str, max_connections: int, ip_address: str | None
    ) -> None:
        """Start pushing to a (new) webhook, as a fresh start: no error, no pending retry."""
        self._abandon("the webhook was changed")
        self.url, self.secret_token = url, secret_token
        self.max_connections, self.ip_address = max_connections, ip_address
        self.last_error_date, self.last_error_message = 0, ""
        self.resume()
        self._changed.fire()

    def resume(self) -> None:
        """Push while a webhook is set (after configure(), or when the fake starts again)."""
        if self.url and (self._runner is None or self._runner.done()):
            self._runner = asyncio.get_running_loop().create_task(self._run())

    def remove(self) -> None:
        """Stop pushing; updates not acknowledged stay pending for getUpdates."""
        self._abandon("the webhook was deleted")
        self.url, self.secret_token, self.ip_address = "", "", None
        self.max_connections = DEFAULT_MAX_CONNECTIONS
        self.last_error_date, self.last_error_message = 0, ""
        self._changed.fire()

    async def close(self) -> None:
        """Stop pushing and release the HTTP client; the webhook stays set (see resume())."""
        self._abandon("the fake stopped")
        tasks = [task for task, _ in self._sending.values()]
        if self._runner is not None:
            self._runner.cancel()
            tasks.append(self._runner)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ internals

    async def _run(self) -> None:
        """Start due deliveries whenever something changes, until the webhook goes."""
        while self.url:
            wait = self._start_due()
            await self._changed.wait(wait)

    def _start_due(self) -> float:
        """Start what may go now; returns how long until a retry falls due (or a long time)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        entries = self._queue.entries()
        live = set(entries)
        for memory in (self._failures, self._retry_at):
            for gone in [entry for entry in memory if entry not in live]:
                del memory[gone]
        busy = {self._queue_of(entry) for entry in self._sending}
        next_due = now + 3600.0
        for entry in entries:
            if len(self._sending) >= self.max_connections:
                break
            key = self._queue_of(entry)
            if entry in self._sending or key in busy:
                continue
            busy.add(key)  # later updates of this queue wait behind this one
            due = self._retry_at.get(entry, now)
            if due > now:
                next_due = min(next_due, due)
                continue
            record = WebhookDelivery(entry.body.get("update_id"), self.url, started=now)
            self.deliveries.append(record)
            task = loop.create_task(self._deliver(record, entry.body))
            # A callback, not a finally: a task cancelled before it ran never runs its body.
            task.add_done_callback(functools.partial(self._settle, entry, record))
            self._sending[entry] = (task, record)
            self._changed.fire()
        return next_due - now

    def _queue_of(self, entry: QueuedUpdate) -> Hashable:
        """The delivery queue of an update (the entry itself when it has none)."""
        key = delivery_queue(entry.body) if self.per_chat_order else None
        return entry if key is None else key

    async def _deliver(self, record: WebhookDelivery, body: dict[str, Any]) -> int | None:
        """POST one update; fills in the record. Returns a failed answer's Retry-After."""
        try:
            return await self._post(record, body)
        except TimeoutError:
            record.error = "Read timeout expired"
        except aiohttp.ClientConnectorError as error:
            code = error.os_error.errno
            record.error = os.strerror(code) if code else str(error.os_error)
        except aiohttp.ClientError as error:
            record.error = f"Webhook connection closed: {error}"
        return None

    def _settle(
        self, entry: QueuedUpdate, record: WebhookDelivery, task: asyncio.Task[Any]
    ) -> None:
        """A delivery ended: forget the update on 2xx, else schedule its retry."""
        record.ended = asyncio.get_running_loop().time()
        del self._sending[entry]
        if task.cancelled():
            record.error = record.error or "cancelled"
        elif task.exception() is not None:
            record.error = f"the fake failed: {task.exception()!r}"
            self._failed(entry, record.error, None)
        elif record.error is None:
            self._queue.forget(entry)
        else:
            self._failed(entry, record.error, task.result())
        self._changed.fire()

    async def _post(self, record: WebhookDelivery, update: dict[str, Any]) -> int | None:
        """Send the update; sets record.status (and record.error for a non-2xx answer).

        Returns the Retry-After of a failed answer, if it gave one.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if self.secret_token:
            headers[SECRET_HEADER] = self.secret_token
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        async with self._session.post(
            record.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as response:
            await response.read()
            record.status = response.status
            if record.ok:
                return None
            record.error = f"Wrong response from the webhook: {response.status} {response.reason}"
            retry_after = response.headers.get("Retry-After", "")
            return min(int(retry_after), _MAX_RETRY_AFTER) if retry_after.isdigit() else None

    def _failed(self, entry: QueuedUpdate, error: str, retry_after: int | None) -> None:
        """Remember a failure for getWebhookInfo and schedule the retry with backoff."""
        self.last_error_date, self.last_error_message = self._unix_now(), error
        failures = self._failures.get(entry, 0) + 1
        self._failures[entry] = failures
        delay = min(self.retry_max, self.retry_initial * 2 ** (failures - 1))
        if retry_after is not None:
            delay = retry_after
        self._retry_at[entry] = asyncio.get_running_loop().time() + delay

    def _abandon(self, reason: str) -> None:
        """Cancel deliveries in flight (their updates stay pending) and forget retry state."""
        for task, record in self._sending.values():
            if not task.done():  # a finished one (answer in hand) settles as it went
                record.error = reason
                task.cancel()
        self._failures.clear()
        self._retry_at.clear()
