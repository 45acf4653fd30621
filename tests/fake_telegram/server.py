"""FakeTelegram: an aiohttp Bot API server on loopback, with fault injection and inspection."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from .errors import ApiError, too_many_requests
from .loopback import LoopbackService
from .methods import LIMITED_METHODS, BotApi, Described, command_scope_key
from .models import ApiCall, SentMessage
from .params import Params, read_params
from .people import Channel, Group, Person
from .ratelimit import RateLimiter
from .state import World
from .updates import Signal
from .webhook import WebhookDelivery, WebhookPusher

DEFAULT_TOKEN = "7000000001:AAFakeTokenForAsaEndToEndTests_x-yz"
FaultKind = Literal["429", "500", "502", "timeout"]

_BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_FIRST_USER_ID = 1_000_001
_FIRST_GROUP_ID = -4_000_000_001
_FIRST_CHANNEL_ID = -1_002_000_000_001


@dataclass
class _Fault:
    """A pending injected failure."""

    method: str  # lower case
    kind: FaultKind
    remaining: int
    chat_id: int | None
    retry_after: int


class FakeTelegram(LoopbackService):
    """A Bot API server that the real PTB client talks to over HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "asa_test_bot",
        rate_limits: bool = True,
        overall_per_second: float = 30.0,
        per_chat_per_second: float = 1.0,
        per_chat_burst: int = 20,
        webhook_timeout: float = 10.0,
        webhook_retry_initial: float = 0.05,
        webhook_retry_max: float = 2.0,
        webhook_per_chat_order: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.world = World(bot_user=self._bot_user())
        self.webhook = WebhookPusher(
            self.world.updates,
            self.world.changed,
            self.world.now,
            timeout=webhook_timeout,
            retry_initial=webhook_retry_initial,
            retry_max=webhook_retry_max,
            per_chat_order=webhook_per_chat_order,
        )
        self.api = BotApi(
            self.world, self._bot_profile(), closing=self._is_closing, webhook=self.webhook
        )
        self.sent: list[SentMessage] = self.world.sent
        self.commands: dict[str, list[dict[str, Any]]] = self.world.commands
        self.calls: list[ApiCall] = []
        self.retry_after_count = 0
        self.rate_limits_enabled = rate_limits
        self._limiter = RateLimiter(
            self._clock,
            overall_per_second=overall_per_second,
            per_chat_per_second=per_chat_per_second,
            per_chat_burst=per_chat_burst,
        )
        self._faults: list[_Fault] = []
        self._closing = asyncio.Event()
        self._in_flight = 0  # HTTP requests being served, held long polls included
        self._next_set_webhook = 0.0  # loop time before which setWebhook gets a 429
        self._user_ids = itertools.count(_FIRST_USER_ID)
        self._group_ids = itertools.count(_FIRST_GROUP_ID, -1)
        self._channel_ids = itertools.count(_FIRST_CHANNEL_ID, -1)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on an ephemeral loopback port."""
        self._closing.clear()
        app = web.Application(middlewares=[self._count_requests])
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        await self._listen(app)
        self.webhook.resume()

    async def stop(self) -> None:
        """Stop webhook pushes, release long polls and held requests, close the server."""
        self._closing.set()
        self.world.updates_changed.fire()
        await self.webhook.close()
        await self._unlisten()

    @property
    def base_url(self) -> str:
        """What to pass to ApplicationBuilder().base_url()."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass to ApplicationBuilder().base_file_url()."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ actors

    def person(
        self,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "th",
    ) -> Person:
        """A human in a private chat with the bot; ids are unique unless given."""
        if user_id is None:
            user_id = next(i for i in self._user_ids if i not in self.world.users)
        return Person(
            self,
            user_id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )

    def group(self, title: str = "Volunteers", *, chat_id: int | None = None) -> Group:
        """A basic group the bot is a member of."""
        return Group(self, chat_id=chat_id or next(self._group_ids), title=title)

    def channel(self, title: str = "Announcements", *, chat_id: int | None = None) -> Channel:
        """A channel where the bot sees posts."""
        return Channel(self, chat_id=chat_id or next(self._channel_ids), title=title)

    # ------------------------------------------------------------------ fault injection

    def push_raw_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue any update body, malformed ones included, for getUpdates or the webhook.

        The fake adds an update_id (the next one) unless `payload` has one, which it then
        keeps whatever it is; later updates get higher ids. Returns the queued update.
        """
        return self.world.updates.push_raw(payload)

    def block(self, chat_id: int) -> None:
        """From now on every call to this chat gets 403 "bot was blocked by the user"."""
        self.world.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """Undo block()."""
        self.world.blocked.discard(chat_id)

    def fail_next(
        self,
        method: str,
        *,
        kind: FaultKind,
        times: int = 1,
        chat_id: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (to `chat_id`, if given) fail."""
        if kind not in ("429", "500", "502", "timeout"):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(_Fault(method.lower(), kind, times, chat_id, max(1, retry_after)))

    def set_rate_limits(
        self,
        *,
        enabled: bool,
        overall_per_second: float | None = None,
        per_chat_per_second: float | None = None,
        per_chat_burst: int | None = None,
    ) -> None:
        """Switch flood control on or off and retune it; buckets start full again."""
        self.rate_limits_enabled = enabled
        if overall_per_second is not None:
            self._limiter.overall_per_second = overall_per_second
        if per_chat_per_second is not None:
            self._limiter.per_chat_per_second = per_chat_per_second
        if per_chat_burst is not None:
            self._limiter.per_chat_burst = per_chat_burst
        self._limiter.reset()

    # ------------------------------------------------------------------ inspection

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to `chat_id`, in order."""
        return self.world.messages_to(chat_id)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook POST so far, in the order they started."""
        return self.webhook.deliveries

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """The updates the bot has not confirmed (or acknowledged) yet, oldest first."""
        return self.world.updates.snapshot()

    def count_to(self, chat_id: int) -> int:
        """How many messages the bot sent to `chat_id`."""
        return len(self.messages_to(chat_id))

    def calls_of(self, method: str) -> list[ApiCall]:
        """Every call of `method` (any case), failed ones included."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    @property
    def failed_calls(self) -> list[ApiCall]:
        """Calls that did not get an ok answer."""
        return [call for call in self.calls if not call.ok]

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]] | None:
        """The last setMyCommands list for a scope/language, None if never set."""
        return self.commands.get(command_scope_key(scope, language_code))

    @staticmethod
    def commands_key(scope: dict[str, Any] | None = None, language_code: str = "") -> str:
        """The `commands` dict key for a scope/language."""
        return command_scope_key(scope, language_code)

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any] | None:
        """The menu button set for a chat (None: the default one)."""
        buttons: dict[int | None, dict[str, Any]] = self.world.settings.get("menu_button", {})
        return buttons.get(chat_id)

    def chat_actions_to(self, chat_id: int) -> list[str]:
        """The chat actions ("typing", ...) sent to a chat."""
        return [action for target, action in self.world.chat_actions if target == chat_id]

    # ------------------------------------------------------------------ settling

    @property
    def changed(self) -> Signal:
        """Fired on every change quiescent() depends on: wait with `changed.wait_until(...)`."""
        return self.world.changed

    def quiescent(self) -> bool:
        """True when nothing is pending or moving on the Telegram side.

        That is: every update was confirmed by a later getUpdates offset (or, with a webhook,
        acknowledged with a 2xx), no HTTP request is being served except long polls waiting
        for updates, and no webhook delivery is in flight. It says nothing about work inside
        the bot: combine it with the bot's own "nothing queued, nothing running" to know a
        test has settled.
        """
        return (
            self.world.updates.pending == 0
            and self._in_flight == self.api.held_polls
            and self.webhook.in_flight == 0
        )

    def pending_report(self) -> str:
        """Where pending updates stand, for assertion messages."""
        pending = self.world.updates.pending
        if not self.webhook.url:
            return f"{pending} update(s) not confirmed by getUpdates (is the bot polling?)"
        report = f"{pending} update(s) not acknowledged by the webhook {self.webhook.url}"
        if self.webhook.last_error_message:
            report += f" (last error: {self.webhook.last_error_message})"
        return report

    def _unsettled(self) -> str:
        """Why quiescent() is False, for assertion messages."""
        return (
            f"{self.pending_report()}, {self._in_flight - self.api.held_polls} request(s) "
            f"in flight, {self.webhook.in_flight} webhook delivery(ies) in flight"
        )

    # ------------------------------------------------------------------ HTTP

    @web.middleware
    async def _count_requests(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count every request while it is served, for quiescent()."""
        self._note_activity(1)
        try:
            return await handler(request)
        finally:
            self._note_activity(-1)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        """Authenticate, inject faults, rate-limit, then run the method."""
        params = await read_params(request)
        entry = self.api.lookup(request.match_info["method"])
        name = entry[0] if entry else request.match_info["method"]
        call = ApiCall(method=name, params=params.decoded(), files=params.files)
        self.calls.append(call)
        if request.match_info["token"] != self.token:
            return self._error(call, ApiError(401, "Unauthorized"))
        if entry is None:
            return self._error(call, ApiError(404, "Not Found"))
        fault = self._take_fault(name, params)
        if fault is not None:
            return await self._inject(request, call, fault)
        try:
            self._rate_limit(name, params)
            call.result = await entry[1](params)
        except ApiError as error:
            return self._error(call, error)
        call.status = 200
        if isinstance(call.result, list) and name == "getUpdates" and call.result:
            self._note_activity(0)  # a delivery: the bot is about to work
        answer: dict[str, Any] = {"ok": True, "result": call.result}
        if isinstance(call.result, Described):
            answer.update(result=call.result.result, description=call.result.description)
            call.result = call.result.result
        return web.json_response(answer)

    def _error(self, call: ApiCall, error: ApiError) -> web.Response:
        """Log and send an error answer."""
        call.status, call.description = error.status, error.description
        if error.status == 429:
            self.retry_after_count += 1
        return web.json_response(error.payload(), status=error.status)

    def _take_fault(self, method: str, params: Params) -> _Fault | None:
        """The first matching injected fault, used up by one."""
        chat_id = self.api.chat_id_of(params)
        for fault in self._faults:
            if fault.method == method.lower() and fault.chat_id in (None, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _inject(
        self, request: web.Request, call: ApiCall, fault: _Fault
    ) -> web.StreamResponse:
        """Answer with the injected failure instead of doing the work."""
        if fault.kind == "429":
            return self._error(call, too_many_requests(fault.retry_after))
        if fault.kind == "500":
            return self._error(call, ApiError(500, "Internal Server Error"))
        if fault.kind == "502":
            call.status, call.description = 502, "Bad Gateway"
            return web.Response(status=502, text=_BAD_GATEWAY_PAGE, content_type="text/html")
        # "timeout": hold until the client gives up (aiohttp then cancels this handler)
        # or until stop(); then drop the connection without an answer.
        await self._closing.wait()
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)

    def _rate_limit(self, method: str, params: Params) -> None:
        """Flood control for message-sending methods, and setWebhook once a second."""
        if not self.rate_limits_enabled:
            return
        if method == "setWebhook" and params.text("url"):
            # Telegram: a setWebhook with an URL within a second of the last one gets a 429,
            # even when nothing changes (several replicas each setting it at start-up do).
            now = self._clock()
            if now < self._next_set_webhook:
                raise too_many_requests(1)
            self._next_set_webhook = now + 1.0
            return
        if method not in LIMITED_METHODS:
            return
        retry_after = self._limiter.check(self.api.chat_id_of(params))
        if retry_after is not None:
            raise too_many_requests(retry_after)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve a file download from base_file_url."""
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        stored = next((f for f in self.world.files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ internals

    def _note_activity(self, in_flight_delta: int) -> None:
        """Count requests in flight and tell waiters."""
        self._in_flight += in_flight_delta
        self.changed.fire()

    def _is_closing(self) -> bool:
        """Whether stop() has begun."""
        return self._closing.is_set()

    @staticmethod
    def _clock() -> float:
        """Event loop time, the clock of rate limits and idleness."""
        return asyncio.get_running_loop().time()

    def _bot_user(self) -> dict[str, Any]:
        """The bot as it appears in `from` of its messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Asa Test Bot",
            "username": self.bot_username,
        }

    def _bot_profile(self) -> dict[str, Any]:
        """The getMe answer: the bot user plus the bot-only capability flags."""
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
