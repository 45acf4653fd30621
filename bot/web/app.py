"""The ASGI application (Starlette), built from the same runtime and use cases as the bot, and
served by uvicorn in the bot's own process and event loop.

Routes:
- GET /healthz, /readyz, /metrics                 health and Prometheus metrics
- GET /screen/<link>[?lang=en], .../stream        the venue screen and its live stream (SSE)
- GET /dashboard/<event>                          the dashboard page (Mini App, or laptop)
- POST /api/dashboard/<event>/view, /action       its content and its actions
- GET /api/dashboard/<event>/stream               "changed", pushed
- GET|POST /login/<link>                          a laptop's one-time login link
- GET /download/<token>.csv|.xlsx                 an export, for a minute after it was asked for
- /static/...                                     styles, scripts and the Thai font (no CDN)

Starlette rather than FastAPI: nothing here needs generated OpenAPI or request models, and
Starlette is the smaller dependency (FastAPI is built on it).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import fontpkg_noto_sans_thai
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot import metrics
from bot.context import AsaApplication
from bot.i18n import Translator, normalise_language, translator
from bot.i18n.dates import format_time
from bot.i18n.terms import agency, volunteer_role
from bot.scope import Actor
from bot.services import codes
from bot.services.access import Capability
from bot.services.checkins import AlreadyCheckedIn
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.headcount import AGENCY_ORDER, BUCKET_SECONDS, GROUPS, ROLE_ORDER
from bot.services.screens import AlreadyDone, EventOver, LinkInvalid, web_secret
from bot.services.summary import zone_label
from bot.usecases import dashboard, health, screen
from bot.usecases.screen import ScreenState
from bot.web import auth
from bot.web.hub import Hub
from bot.web.render import STATIC, qr_svg, render
from bot.web.webhook import webhook_route
from storage.database import Database
from storage.migrate import head_revision

_log = logging.getLogger(__name__)

# The dashboard's buttons, and what each does to check-in.
SWITCHES: dict[str, dashboard.Switch] = {"open": "open", "close": "closed", "auto": "auto"}
KEEPALIVE_SECONDS = 15.0
READY_SECONDS = 10.0
PROBE_SECONDS = 3.0
CHART_SLOTS = 32
CHART_MIN_SLOTS = 8
SCREEN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self' https://telegram.org; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors https://web.telegram.org"
)


class Refused(Exception):
    """A web request refused with a status and a translation key."""

    def __init__(self, status: int, key: str, lang: str = "th") -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.lang = lang


class WebApp:
    """The web side of one running bot: its routes, live hub and secrets."""

    def __init__(self, application: AsaApplication) -> None:
        self.application = application
        self.runtime = application.runtime
        self.settings = self.runtime.settings
        self.secret = web_secret(self.settings.telegram.token)
        self.hub = Hub(self.runtime)
        # Health probes try once: a probe that waited out an outage would say nothing.
        self.probe_db = Database(self.runtime.sessions, retry_seconds=0)
        self.head = head_revision()
        self.asgi = Starlette(routes=self._routes())

    # -----------------------------------------------------------------------------------------
    # Wiring

    def _routes(self) -> list[Route | Mount]:
        font = _font_file()
        return [
            Route("/healthz", self.healthz),
            Route("/readyz", self.readyz),
            Route("/metrics", self.metrics),
            Route("/static/fonts/noto-sans-thai.ttf", lambda _r: _static_file(font)),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
            Route("/screen/{link}", self.screen_page),
            Route("/screen/{link}/stream", self.screen_stream),
            Route("/dashboard/{event_id:int}", self.dashboard_page),
            Route("/api/dashboard/{event_id:int}/view", self.dashboard_view, methods=["POST"]),
            Route("/api/dashboard/{event_id:int}/action", self.dashboard_action, methods=["POST"]),
            Route("/api/dashboard/{event_id:int}/stream", self.dashboard_stream),
            Route("/login/{link}", self.login_page, methods=["GET", "POST"]),
            Route("/download/{token}.{fmt}", self.download),
            *self._webhook(),
        ]

    def _webhook(self) -> list[Route]:
        """Telegram's deliveries, in webhook mode only."""
        if self.settings.telegram.mode != "webhook":
            return []
        return [webhook_route(self.application)]

    @property
    def bot_username(self) -> str:
        """The bot's @username (known once getMe worked)."""
        return self.application.bot.username

    def telegram_ok(self) -> bool:
        """Whether getMe worked at start-up."""
        try:
            return bool(self.application.bot.bot.username)
        except RuntimeError:
            return False

    # -----------------------------------------------------------------------------------------
    # Health and metrics

    async def healthz(self, _request: Request) -> Response:
        """The process is alive and answering."""
        return PlainTextResponse("ok")

    async def readyz(self, _request: Request) -> Response:
        """Ready when the database answers, its schema is current and getMe worked."""
        database, schema = False, False
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                revision = await health.schema_revision(self.probe_db)
            database, schema = True, revision == self.head
        except Exception as error:
            _log.info("not ready: database (%s)", type(error).__name__)
        checks = {"database": database, "schema": schema, "telegram": self.telegram_ok()}
        ready = all(checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    async def metrics(self, _request: Request) -> Response:
        """Prometheus text: this process's counters, and the outbox read from the database."""
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                counts = await health.outbox_counts(self.probe_db)
            for status, count in counts.items():
                metrics.OUTBOX.labels(status).set(count)
        except Exception as error:
            _log.info("metrics: outbox not read (%s)", type(error).__name__)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    # -----------------------------------------------------------------------------------------
    # The venue screen

    def _screen_lang(self, request: Request) -> str:
        asked = request.query_params.get("lang")
        return normalise_language(asked, self.settings.bot.default_language)

    def _screen_html(self, state: ScreenState, lang: str) -> str:
        link = codes.deep_link(self.bot_username, state.payload.removeprefix("ci-"))
        return render(
            "screen_body.html",
            lang=lang,
            tz=self.settings.tz,
            state=state,
            link=link,
            qr=qr_svg(link),
            bot_name=f"@{self.bot_username}",
        )

    def _message(self, status: int, key: str, lang: str) -> HTMLResponse:
        t = translator(lang)
        html = render(
            "message.html",
            lang=lang,
            tz=self.settings.tz,
            heading=t(f"{key}.title"),
            text=t(key),
        )
        return HTMLResponse(html, status_code=status, headers=_private(SCREEN_CSP))

    async def _screen_event(self, link: str) -> int:
        return await screen.event_of(
            self.runtime.db, link=link, secret=self.secret, now=self.runtime.clock.now()
        )

    async def screen_page(self, request: Request) -> Response:
        """The screen: rendered whole now, then kept live by its stream."""
        lang = self._screen_lang(request)
        link = request.path_params["link"]
        try:
            event_id = await self._screen_event(link)
        except EventOver:
            return self._message(410, "web.link.event_over", lang)
        except (LinkInvalid, NotFound):
            return self._message(404, "web.link.invalid", lang)
        async with self.hub.follow(event_id) as watch:
            try:
                async with asyncio.timeout(READY_SECONDS):
                    await watch.ready()
            except TimeoutError:
                return self._message(503, "web.unavailable", lang)
            state = watch.state
        if state is None:
            return self._message(503, "web.unavailable", lang)
        other = "en" if lang == "th" else "th"
        html = render(
            "screen.html",
            lang=lang,
            tz=self.settings.tz,
            state=state,
            link=codes.deep_link(self.bot_username, state.payload.removeprefix("ci-")),
            qr=qr_svg(codes.deep_link(self.bot_username, state.payload.removeprefix("ci-"))),
            bot_name=f"@{self.bot_username}",
            stream_url=f"/screen/{quote(link)}/stream?lang={lang}",
            other_lang_url=f"/screen/{quote(link)}?lang={other}",
        )
        return HTMLResponse(html, headers=_private(SCREEN_CSP))

    async def screen_stream(self, request: Request) -> Response:
        """Server-Sent Events: the screen's new content at every change."""
        lang = self._screen_lang(request)
        link = request.path_params["link"]
        try:
            event_id = await self._screen_event(link)
        except (LinkInvalid, NotFound, EventOver):
            return PlainTextResponse("gone", status_code=404)

        async def events() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            checked = loop.time()
            async with self.hub.follow(event_id) as watch:
                seen = -1
                while not self.hub.closing.is_set():
                    if watch.state is not None and watch.version != seen:
                        seen = watch.version
                        yield _sse("screen", {"html": self._screen_html(watch.state, lang)})
                        if watch.state.status == "ended":
                            break
                    changed = await watch.wait_changed(KEEPALIVE_SECONDS)
                    if loop.time() - checked < KEEPALIVE_SECONDS:
                        continue
                    # Every so often, busy or not: is the link still good (revoked, over)?
                    checked = loop.time()
                    try:
                        await self._screen_event(link)
                    except (LinkInvalid, NotFound, EventOver) as refusal:
                        text = translator(lang)(refusal.key, **refusal.values)
                        yield _sse("gone", {"html": f"<p class='message'>{_escape(text)}</p>"})
                        break
                    if not changed:
                        yield ": keepalive\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=_stream())

    # -----------------------------------------------------------------------------------------
    # Who is asking (dashboard, downloads)

    async def _web_user(self, request: Request) -> auth.WebUser:
        """The verified person behind a request: Mini App data, else a session cookie."""
        now = self.runtime.clock.now()
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            user = None
            if scheme.lower() == "tma":
                user = auth.verify_init_data(
                    value,
                    bot_token=self.settings.telegram.token,
                    max_age=timedelta(seconds=self.settings.web.init_data_max_age_seconds),
                    now=now,
                )
            if user is None:
                raise Refused(401, "web.auth.refused", _accept_lang(request))
            return user
        cookie = request.cookies.get(auth.SESSION_COOKIE, "")
        user = auth.verify_session(cookie, self.secret, now=now) if cookie else None
        if user is None:
            raise Refused(401, "web.auth.missing", _accept_lang(request))
        return user

    async def _actor(self, request: Request) -> Actor:
        """The person, with their rights read now (every request, not only the first)."""
        user = await self._web_user(request)
        return await dashboard.web_actor(
            self.runtime.db,
            telegram_id=user.telegram_id,
            config_admins=self.settings.bot.admins,
            default_language=self.settings.bot.default_language,
            language_code=user.language_code,
        )

    async def _guarded(
        self, request: Request, work: Callable[[Actor], Awaitable[Response]]
    ) -> Response:
        """Run `work` for a verified person; refusals as JSON in their language."""
        lang = _accept_lang(request)
        try:
            actor = await self._actor(request)
            lang = actor.lang
            return await work(actor)
        except Refused as refusal:
            return _json_error(refusal.status, refusal.key, refusal.lang)
        except NotAllowed:
            return _json_error(403, "web.auth.not_allowed", lang)
        except NotFound:
            return _json_error(404, "web.dash.event_not_found", lang)

    # -----------------------------------------------------------------------------------------
    # The dashboard

    async def dashboard_page(self, request: Request) -> Response:
        """The page's shell: its content comes from /view, asked for with credentials."""
        lang = normalise_language(
            request.query_params.get("lang") or _accept_lang(request),
            self.settings.bot.default_language,
        )
        html = render(
            "dashboard.html",
            lang=lang,
            tz=self.settings.tz,
            event_id=request.path_params["event_id"],
        )
        return HTMLResponse(html, headers=_private(DASHBOARD_CSP))

    async def dashboard_view(self, request: Request) -> Response:
        """The dashboard's content, rendered for this person, within their zones."""
        event_id = request.path_params["event_id"]
        body = await _json_body(request)
        query = str(body.get("q") or "")[:100]

        async def work(actor: Actor) -> Response:
            now = self.runtime.clock.now()
            view = await dashboard.overview(
                self.runtime.db, actor=actor, event_id=event_id, query=query, now=now
            )
            t = translator(actor.lang)
            names = self._zone_names(actor.lang)
            limit = view.headcount.zone_limit
            zones_text = ", ".join(zone_label(t, z, names) for z in sorted(limit or ()))
            html = render(
                "dashboard_body.html",
                lang=actor.lang,
                tz=self.settings.tz,
                view=view,
                now=now,
                opens_at=view.opens_at,
                groups=GROUPS,
                roles=ROLE_ORDER,
                agencies=AGENCY_ORDER,
                role_key=volunteer_role,
                agency_key=agency,
                zone_name=lambda zone: zone_label(t, zone, names),
                zones_text=zones_text or "-",
                chart=_chart(view.headcount.arrivals, actor.lang, self.settings.tz),
                message="",
            )
            return JSONResponse({"html": html}, headers=_private())

        return await self._guarded(request, work)

    def _zone_names(self, lang: str) -> dict[int, str]:
        return {zone.number: zone.name(lang) for zone in self.runtime.geography.zones}

    async def dashboard_action(self, request: Request) -> Response:
        """One action, once: check in, open/close check-in, rotate the code, export."""
        event_id = request.path_params["event_id"]
        body = await _json_body(request)
        action = str(body.get("action") or "")
        request_id = str(body.get("request_id") or "")

        async def work(actor: Actor) -> Response:
            t = translator(actor.lang)
            now = self.runtime.clock.now()
            keep = timedelta(hours=self.settings.web.session_hours)
            db = self.runtime.db
            try:
                if action == "check_in":
                    person_id = body.get("person_id")
                    if not isinstance(person_id, int) or not 0 < person_id < 2**31:
                        return _json_error(400, "web.action.bad", actor.lang)
                    result = await dashboard.check_in(
                        db,
                        actor=actor,
                        event_id=event_id,
                        person_id=person_id,
                        request_id=request_id,
                        now=now,
                        keep=keep,
                    )
                    text = t("web.action.checked_in", title=result.event_title)
                elif action in ("open", "close", "auto"):
                    switch = SWITCHES[action]
                    await dashboard.switch_checkin(
                        db,
                        actor=actor,
                        event_id=event_id,
                        switch=switch,
                        request_id=request_id,
                        now=now,
                        keep=keep,
                    )
                    text = t(f"web.action.{switch}")
                elif action == "rotate":
                    code = await dashboard.rotate_code(
                        db,
                        actor=actor,
                        event_id=event_id,
                        request_id=request_id,
                        now=now,
                        keep=keep,
                    )
                    text = t("web.action.rotated", code=code)
                elif action == "export":
                    return await self._export_link(actor, event_id, body)
                else:
                    return _json_error(400, "web.action.bad", actor.lang)
            except AlreadyDone:
                return _json_error(409, "web.action.replayed", actor.lang)
            except AlreadyCheckedIn as refusal:
                at = refusal.values.get("at")
                when = render_time(at, actor.lang, self.settings.tz)
                return _json_error(409, "web.action.already", actor.lang, at=when)
            except (NotAllowed, NotFound):
                raise
            except DomainError as refusal:
                values = {k: v for k, v in refusal.values.items() if isinstance(v, str | int)}
                return JSONResponse({"error": _safe_text(t, refusal.key, values)}, status_code=409)
            return JSONResponse({"message": text}, headers=_private())

        return await self._guarded(request, work)

    async def _export_link(self, actor: Actor, event_id: int, body: dict[str, Any]) -> Response:
        """A one-minute link to the export (a Mini App downloads through Telegram's client)."""
        fmt = str(body.get("format") or "")
        if fmt not in ("csv", "xlsx"):
            return _json_error(400, "web.action.bad", actor.lang)
        await dashboard.event_if_allowed(
            self.runtime.db, actor=actor, event_id=event_id, capability=Capability.EXPORT
        )
        token = auth.download_token(
            self.secret,
            event_id=event_id,
            telegram_id=actor.telegram_id,
            now=self.runtime.clock.now(),
        )
        return JSONResponse(
            {
                "download": f"/download/{token}.{fmt}",
                "file_name": f"asa-{event_id}.{fmt}",
                "message": translator(actor.lang)("web.action.export"),
            },
            headers=_private(),
        )

    async def download(self, request: Request) -> Response:
        """The export, for the person the link was made for, if they may still export."""
        fmt = request.path_params["fmt"]
        now = self.runtime.clock.now()
        found = auth.verify_download(request.path_params["token"], self.secret, now=now)
        lang = _accept_lang(request)
        if found is None or fmt not in ("csv", "xlsx"):
            return self._message(404, "web.link.invalid", lang)
        event_id, telegram_id = found
        actor = await dashboard.web_actor(
            self.runtime.db,
            telegram_id=telegram_id,
            config_admins=self.settings.bot.admins,
            default_language=self.settings.bot.default_language,
        )
        try:
            files = await dashboard.export(
                self.runtime.db,
                actor=actor,
                event_id=event_id,
                t=translator(actor.lang),
                zone_names=self._zone_names(actor.lang),
                tz=self.settings.tz,
                now=now,
            )
        except (NotAllowed, NotFound):
            return self._message(403, "web.auth.not_allowed", actor.lang)
        data = files.csv if fmt == "csv" else files.xlsx
        media = (
            "text/csv; charset=utf-8"
            if fmt == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        headers = _private()
        headers["Content-Disposition"] = f'attachment; filename="{files.stem}.{fmt}"'
        return Response(data, media_type=media, headers=headers)

    async def dashboard_stream(self, request: Request) -> Response:
        """ "changed" whenever the event changes; the page then asks for its content again."""
        event_id = request.path_params["event_id"]

        async def work(actor: Actor) -> Response:
            await dashboard.event_if_allowed(self.runtime.db, actor=actor, event_id=event_id)

            async def events() -> AsyncIterator[str]:
                loop = asyncio.get_running_loop()
                checked = loop.time()
                async with self.hub.follow(event_id) as watch:
                    await watch.ready()
                    seen = watch.version
                    yield ": following\n\n"
                    while not self.hub.closing.is_set():
                        changed = await watch.wait_changed(KEEPALIVE_SECONDS)
                        if changed and watch.version != seen:
                            seen = watch.version
                            yield "event: changed\ndata: {}\n\n"
                        if loop.time() - checked >= KEEPALIVE_SECONDS:
                            # Rights are read again: a role revoked meanwhile ends the stream.
                            checked = loop.time()
                            try:
                                fresh = await self._actor(request)
                                await dashboard.event_if_allowed(
                                    self.runtime.db, actor=fresh, event_id=event_id
                                )
                            except (Refused, NotAllowed, NotFound):
                                break
                            if not changed:
                                yield ": keepalive\n\n"

            return StreamingResponse(events(), media_type="text/event-stream", headers=_stream())

        return await self._guarded(request, work)

    # -----------------------------------------------------------------------------------------
    # Laptop login

    async def login_page(self, request: Request) -> Response:
        """GET shows a button (link previews must not spend the link); POST spends it."""
        link = request.path_params["link"]
        lang = _accept_lang(request)
        if request.method == "GET":
            html = render(
                "login.html", lang=lang, tz=self.settings.tz, action=f"/login/{quote(link)}"
            )
            return HTMLResponse(html, headers=_private(DASHBOARD_CSP))
        now = self.runtime.clock.now()
        try:
            login = await dashboard.use_login(
                self.runtime.db, link=link, secret=self.secret, now=now
            )
        except LinkInvalid:
            return self._message(404, "web.login.invalid", lang)
        expires = now + timedelta(hours=self.settings.web.session_hours)
        response = RedirectResponse(f"/dashboard/{login.event_id}", status_code=303)
        response.set_cookie(
            auth.SESSION_COOKIE,
            auth.session_cookie(self.secret, telegram_id=login.telegram_id, expires=expires),
            max_age=int(self.settings.web.session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=self.settings.web.base_url.startswith("https://"),
            path="/",
        )
        return response


# ---------------------------------------------------------------------------------------------
# Helpers


def render_time(at: object, lang: str, tz: ZoneInfo) -> str:
    """A moment as a time of day, or "" for anything else."""
    return format_time(at, lang=lang, tz=tz) if isinstance(at, datetime) else ""


def _safe_text(t: Translator, key: str, values: dict[str, Any]) -> str:
    """A refusal's text, or a general one for a key no catalog has."""
    return t(key, **values) if t.has(key) else t("web.action.refused")


def _font_file() -> Path:
    """Noto Sans Thai, as the fontpkg package ships it."""
    fonts = sorted(Path(fontpkg_noto_sans_thai.ROOT).rglob("*.ttf"))
    if not fonts:
        raise RuntimeError("Noto Sans Thai is missing: reinstall fontpkg-noto-sans-thai")
    return fonts[0]


def _static_file(path: Path) -> Response:
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


def _private(csp: str | None = None) -> dict[str, str]:
    """Headers for pages and data that belong to one person or one capability."""
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if csp:
        headers["Content-Security-Policy"] = csp
    return headers


def _stream() -> dict[str, str]:
    return {**_private(), "X-Accel-Buffering": "no"}


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _escape(text: str) -> str:
    return html.escape(text)


def _accept_lang(request: Request) -> str:
    """The first language the browser asks for that we speak, else Thai."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip()
        if code:
            lang = normalise_language(code, "")
            if lang:
                return lang
    return "th"


def _json_error(status: int, key: str, lang: str, **values: object) -> JSONResponse:
    return JSONResponse(
        {"error": translator(lang)(key, **values)}, status_code=status, headers=_private()
    )


async def _json_body(request: Request) -> dict[str, Any]:
    """A small JSON object body, or {}."""
    raw = await request.body()
    if len(raw) > 4096:
        return {}
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _chart(
    arrivals: tuple[tuple[datetime, int], ...], lang: str, tz: ZoneInfo
) -> dict[str, Any] | None:
    """Arrivals per 15 minutes as SVG bars: the latest CHART_SLOTS slots, at least
    CHART_MIN_SLOTS (earlier empty slots shown as such), gaps as zero."""
    if not arrivals:
        return None
    counts = dict(arrivals)
    step_time = timedelta(seconds=BUCKET_SECONDS)
    last = arrivals[-1][0]
    first = max(arrivals[0][0], last - step_time * (CHART_SLOTS - 1))
    first = min(first, last - step_time * (CHART_MIN_SLOTS - 1))
    slots = []
    at = first
    while at <= last:
        slots.append((at, counts.get(at, 0)))
        at += step_time
    width, height, top, bottom = 480, 160, 16, 20
    biggest = max(count for _, count in slots) or 1
    step = width / len(slots)
    every = max(1, len(slots) // 8)
    bars = []
    for index, (slot, count) in enumerate(slots):
        h = (height - top - bottom) * count / biggest
        bars.append(
            {
                "x": round(index * step + step * 0.1, 1),
                "w": round(step * 0.8, 1),
                "y": round(height - bottom - h, 1),
                "h": round(h, 1),
                "count": count,
                "label": format_time(slot, lang=lang, tz=tz).removesuffix(" น."),
                "show_label": index % every == 0,
            }
        )
    return {"width": width, "height": height, "bars": bars}
