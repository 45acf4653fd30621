"""/screen (the venue screen's link) and /dashboard (the organisers' live dashboard).

Handlers parse, call one use case (bot/usecases/screen.py, bot/usecases/dashboard.py) and
render. Buttons are stateless and re-checked when pressed:
- `scr:new:<event>` asks before revoking; `scr:renew:<event>` makes the new link;
- `dsh:login:<event>` sends a one-time link that opens the dashboard on a computer.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
    WebAppInfo,
)
from telegram.ext import CallbackQueryHandler

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_MAIN
from bot.handlers.checkin_texts import error_text
from bot.handlers.dispatch import Callback
from bot.handlers.updates import args_of, message_of, query_of, trailing_id
from bot.i18n.dates import format_datetime
from bot.services.access import Capability
from bot.services.errors import DomainError
from bot.services.screens import ScreenLinkInfo, web_secret
from bot.usecases import dashboard as dashboards
from bot.usecases import screen as screens

NEW_LINK = "scr:new:"
RENEW = "scr:renew:"
KEEP = "scr:keep:"
LOGIN = "dsh:login:"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _base(context: AsaContext) -> str:
    return context.settings.web.base_url


def _secret(context: AsaContext) -> bytes:
    return web_secret(context.settings.telegram.token)


# ---------------------------------------------------------------------------------------------
# /screen


def _screen_text(context: AsaContext, info: ScreenLinkInfo) -> str:
    until = format_datetime(info.works_until, lang=context.lang, tz=context.settings.tz)
    key = "web.bot.screen_new" if info.renewed else "web.bot.screen"
    return context.t(key, title=info.event_title, url=_screen_url(context, info), until=until)


def _screen_url(context: AsaContext, info: ScreenLinkInfo) -> str:
    return f"{_base(context)}/screen/{info.link}"


def _screen_keyboard(context: AsaContext, info: ScreenLinkInfo) -> InlineKeyboardMarkup:
    url = _screen_url(context, info)
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(context.t("web.bot.open_screen"), url=url)],
            [
                InlineKeyboardButton(
                    context.t("web.bot.new_link"), callback_data=f"{NEW_LINK}{info.event_id}"
                )
            ],
        ]
    )


async def screen_command(update: Update, context: AsaContext) -> None:
    """/screen [event]: the link to put on the projector at the door."""
    try:
        info = await screens.link_for(
            context.db,
            actor=context.actor,
            argument=" ".join(args_of(context)),
            event_id=None,
            secret=_secret(context),
            now=context.clock.now(),
        )
    except DomainError as error:
        await message_of(update).reply_text(error_text(context, error))
        return
    await message_of(update).reply_text(
        _screen_text(context, info),
        reply_markup=_screen_keyboard(context, info),
        link_preview_options=NO_PREVIEW,
    )


async def new_link_pressed(update: Update, context: AsaContext) -> None:
    """ "New link": say what it does to the screens showing the old one, and ask."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    if not context.actor.access.can(Capability.VIEW_HEADCOUNT):
        # Re-checked at "yes" too; asking someone who may not renew would mislead them.
        await query.answer(context.t("error.not_allowed"), show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(
        context.t("web.bot.renew_confirm"),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        context.t("web.bot.renew_yes"), callback_data=f"{RENEW}{event_id}"
                    ),
                    InlineKeyboardButton(
                        context.t("web.bot.renew_no"), callback_data=f"{KEEP}{event_id}"
                    ),
                ]
            ]
        ),
    )


async def renew_pressed(update: Update, context: AsaContext) -> None:
    """Confirmed, or kept: the new link (the old one stops at once), or the current one."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    try:
        info = await screens.link_for(
            context.db,
            actor=context.actor,
            argument=None,
            event_id=event_id,
            secret=_secret(context),
            now=context.clock.now(),
            renew=data.startswith(RENEW),
        )
    except DomainError as error:
        await query.answer(error_text(context, error)[:200], show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(
        _screen_text(context, info),
        reply_markup=_screen_keyboard(context, info),
        link_preview_options=NO_PREVIEW,
    )


# ---------------------------------------------------------------------------------------------
# /dashboard


def _mini_app_allowed(url: str) -> bool:
    """Telegram opens Mini Apps only from https:// (a loopback address is for development)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or parts.hostname in _LOOPBACK


async def dashboard_command(update: Update, context: AsaContext) -> None:
    """/dashboard [event]: the live dashboard, as a Mini App, or on a computer."""
    try:
        event = await dashboards.event_for(
            context.db,
            actor=context.actor,
            argument=" ".join(args_of(context)),
            now=context.clock.now(),
        )
    except DomainError as error:
        await message_of(update).reply_text(error_text(context, error))
        return
    url = f"{_base(context)}/dashboard/{event.id}"
    rows = []
    if _mini_app_allowed(url):
        rows.append(
            [InlineKeyboardButton(context.t("web.bot.open_dashboard"), web_app=WebAppInfo(url))]
        )
    rows.append(
        [InlineKeyboardButton(context.t("web.bot.on_computer"), callback_data=f"{LOGIN}{event.id}")]
    )
    await message_of(update).reply_text(
        context.t("web.bot.dashboard", title=event.title),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def login_pressed(update: Update, context: AsaContext) -> None:
    """A one-time link for a computer, valid for [web] login_link_minutes."""
    query, data = query_of(update)
    event_id = trailing_id(data)
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    minutes = context.settings.web.login_link_minutes
    try:
        link = await dashboards.login_link(
            context.db,
            actor=context.actor,
            event_id=event_id,
            secret=_secret(context),
            now=context.clock.now(),
            lifetime=timedelta(minutes=minutes),
        )
    except DomainError as error:
        await query.answer(error_text(context, error)[:200], show_alert=True)
        return
    await query.answer()
    await context.bot.send_message(
        context.actor.telegram_id,
        context.t("web.bot.login_link", url=f"{_base(context)}/login/{link}", minutes=int(minutes)),
        link_preview_options=NO_PREVIEW,
    )


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {
    "screen": screen_command,
    "dashboard": dashboard_command,
}


def register(application: AsaApplication) -> None:
    """The screen-link and login buttons (each re-checks the presser's rights)."""
    application.add_handlers(
        [
            CallbackQueryHandler(new_link_pressed, pattern=rf"^{NEW_LINK}\d+$"),
            CallbackQueryHandler(renew_pressed, pattern=rf"^(?:{RENEW}|{KEEP})\d+$"),
            CallbackQueryHandler(login_pressed, pattern=rf"^{LOGIN}\d+$"),
        ],
        group=GROUP_MAIN,
    )
