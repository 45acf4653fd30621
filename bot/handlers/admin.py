"""Admins manage roles (/grant, /revoke, /roles) and read the audit trail (/audit).

`/grant <role> [zones] <who>` and `/revoke <role> [zones] <who>`, where <who> is a phone number
or an @username of a registered person, or the command is sent as a reply to a message
forwarded from them. Whatever is missing is asked for, with buttons for the role and zones:

    /grant coordinator 3 4 @somchai      /grant staff 081 234 5678
    /revoke coordinator 4 @somchai       /grant   (then buttons, then the person)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_MAIN, menus
from bot.handlers.common import sender_access
from bot.handlers.updates import message_of, query_of
from bot.i18n import Translator, translator
from bot.i18n.dates import format_datetime
from bot.services import audit, roles
from bot.services.access import Access, Capability, access_for
from bot.services.errors import DomainError, NotAllowed
from bot.services.roles import RoleChange
from bot.services.validation import InvalidPhone, normalise_phone
from storage.models import AuditEntry, Person, Role

_log = logging.getLogger(__name__)

GRANT = "grant"
REVOKE = "revoke"
CHOOSING_ROLE = "admin.choosing_role"
CHOOSING_ZONES = "admin.choosing_zones"
NAMING_PERSON = "admin.naming_person"
DRAFT_KEY = "admin_draft"

# Callback data: "adm:r:<role>", "adm:z:<zone>", "adm:zd" (zones done). Opaque and short;
# each press re-checks that the presser is still an admin and that the value is valid.
CALLBACK_PREFIX = "adm:"
ROLE_PREFIX = "adm:r:"
ZONE_PREFIX = "adm:z:"
ZONES_DONE = "adm:zd"

# A zone is a small number without a leading zero; "02 123 4567" is a Bangkok landline.
_ZONE_TOKEN = re.compile(r"[1-9][0-9]{0,2}")
_USERNAME_TOKEN = re.compile(r"@[A-Za-z0-9_]{3,32}")
# Telegram allows 4,096 characters a message; long lists are split below that.
MESSAGE_LIMIT = 3500

ROLE_KEYS: dict[Role, str] = {
    Role.ADMIN: "admin.role.admin",
    Role.ORGANISER: "admin.role.organiser",
    Role.COORDINATOR: "admin.role.coordinator",
    Role.STAFF: "admin.role.staff",
}
# What the audit's action codes mean (other families' too); unknown codes are shown as they are.
ACTION_KEYS: dict[str, str] = {
    "role.grant": "admin.audit.role_grant",
    "role.revoke": "admin.audit.role_revoke",
    "person.erase": "admin.audit.person_erase",
    "event.create": "admin.audit.event_create",
    "event.update": "admin.audit.event_update",
    "event.cancel": "admin.audit.event_cancel",
    "event.rotate_code": "admin.audit.event_rotate_code",
    "event.auto_rotate": "admin.audit.event_auto_rotate",
    "event.checkin_open": "admin.audit.event_checkin_open",
    "event.checkin_closed": "admin.audit.event_checkin_closed",
    "event.checkin_auto": "admin.audit.event_checkin_auto",
    "event.checkout_on": "admin.audit.event_checkout_on",
    "event.checkout_off": "admin.audit.event_checkout_off",
    "checkin.staff": "admin.audit.checkin_staff",
    "checkin.walkin": "admin.audit.checkin_walkin",
    "broadcast.create": "admin.audit.broadcast_create",
    "broadcast.cancel": "admin.audit.broadcast_cancel",
    "broadcast.reschedule": "admin.audit.broadcast_reschedule",
    "export.attendees": "admin.audit.export_attendees",
    "export.volunteers": "admin.audit.export_volunteers",
}


@dataclass
class Draft:
    """What an admin has said so far; kept in user_data (as plain values) between steps."""

    action: str
    role: Role | None = None
    zones: tuple[int, ...] = ()
    telegram_id: int | None = None
    phone: str | None = None
    username: str | None = None
    unreadable_person: bool = False

    @property
    def has_person(self) -> bool:
        """Whether the person is named."""
        return any(v is not None for v in (self.telegram_id, self.phone, self.username))

    def to_plain(self) -> dict[str, Any]:
        """JSON-friendly, for persistence."""
        return {
            "action": self.action,
            "role": self.role.value if self.role else None,
            "zones": list(self.zones),
            "telegram_id": self.telegram_id,
            "phone": self.phone,
            "username": self.username,
        }

    @classmethod
    def from_plain(cls, raw: object) -> Draft | None:
        """Back from user_data; None when absent or not ours."""
        if not isinstance(raw, dict) or raw.get("action") not in (GRANT, REVOKE):
            return None
        role = raw.get("role")
        zones = raw.get("zones")
        return cls(
            action=str(raw["action"]),
            role=Role(role) if isinstance(role, str) and role in Role._value2member_map_ else None,
            zones=tuple(z for z in zones if isinstance(z, int)) if isinstance(zones, list) else (),
            telegram_id=_int_or_none(raw.get("telegram_id")),
            phone=_str_or_none(raw.get("phone")),
            username=_str_or_none(raw.get("username")),
        )


def _int_or_none(value: object) -> int | None:
    """An int read back from user_data, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: object) -> str | None:
    """A str read back from user_data, or None."""
    return value if isinstance(value, str) else None


def parse_arguments(action: str, args: list[str]) -> Draft:
    """Read "<role> [zones] <who>" in any reasonable form; what is missing stays None."""
    draft = Draft(action=action)
    tokens = [part for arg in args for part in arg.split(",") if part]
    phone_parts: list[str] = []
    zones: list[int] = []
    for token in tokens:
        role = roles.parse_role(token)
        if role is not None and draft.role is None:
            draft.role = role
        elif _USERNAME_TOKEN.fullmatch(token) and draft.username is None:
            draft.username = token
        elif _ZONE_TOKEN.fullmatch(token) and not phone_parts:
            zones.append(int(token))
        else:
            phone_parts.append(token)
    draft.zones = tuple(sorted(set(zones)))
    if phone_parts and draft.username is None:
        try:
            draft.phone = normalise_phone(" ".join(phone_parts))
        except InvalidPhone:
            draft.unreadable_person = True
    return draft


def forwarded_from(message: Message | None) -> int | None:
    """The Telegram id of the person a message was forwarded from, if Telegram tells."""
    if message is None or not isinstance(message.forward_origin, MessageOriginUser):
        return None
    return message.forward_origin.sender_user.id


def forward_is_hidden(message: Message | None) -> bool:
    """Whether the message was forwarded from someone who hides their account in forwards."""
    return message is not None and isinstance(message.forward_origin, MessageOriginHiddenUser)


# ---------------------------------------------------------------------------------------------
# Entry: /grant and /revoke
# ---------------------------------------------------------------------------------------------


async def grant_command(update: Update, context: AsaContext) -> str | int:
    """/grant: act at once when everything is given, else ask for what is missing."""
    return await _start(update, context, GRANT)


async def revoke_command(update: Update, context: AsaContext) -> str | int:
    """/revoke: the same as /grant, the other way."""
    return await _start(update, context, REVOKE)


async def _start(update: Update, context: AsaContext, action: str) -> str | int:
    """Check the admin, read the arguments and the replied-to forward, then go on."""
    if await _refused(update, context):
        return ConversationHandler.END
    message = message_of(update)
    draft = parse_arguments(action, list(context.args or []))
    replied_to = message.reply_to_message
    if forward_is_hidden(replied_to):
        await message.reply_text(context.t("admin.forward_hidden"))
    elif forwarded_from(replied_to) is not None and not draft.has_person:
        draft.telegram_id = forwarded_from(replied_to)
    if draft.unreadable_person:
        await message.reply_text(context.t("admin.person_unreadable"))
    return await _advance(update, context, draft)


async def _advance(update: Update, context: AsaContext, draft: Draft) -> str | int:
    """Ask for the first thing missing, or do it."""
    _save(context, draft)
    message = message_of(update)
    if draft.role is None:
        key = "admin.ask_role_grant" if draft.action == GRANT else "admin.ask_role_revoke"
        await message.reply_text(context.t(key), reply_markup=_role_keyboard(context.t))
        return CHOOSING_ROLE
    if draft.action == GRANT and draft.role == Role.COORDINATOR and not draft.zones:
        await _ask_zones(message, context, draft)
        return CHOOSING_ZONES
    if not draft.has_person:
        await message.reply_text(context.t("admin.ask_person"))
        return NAMING_PERSON
    return await _execute(update, context, draft)


async def _ask_zones(message: Message, context: AsaContext, draft: Draft) -> None:
    """The zone buttons, with the chosen ones ticked."""
    keyboard = await _zone_keyboard(context, draft)
    await message.reply_text(context.t("admin.ask_zones"), reply_markup=keyboard)


# ---------------------------------------------------------------------------------------------
# Buttons: role and zones
# ---------------------------------------------------------------------------------------------


async def role_chosen(update: Update, context: AsaContext) -> str | int:
    """A role button: re-check the presser, then go on."""
    query, data = query_of(update)
    draft = await _button_draft(update, context)
    if draft is None:
        return _end(context)
    role = data.removeprefix(ROLE_PREFIX)
    if role not in Role._value2member_map_:
        await query.answer(context.t("error.stale_button"))
        return CHOOSING_ROLE
    await query.answer()
    draft.role = Role(role)
    await query.edit_message_text(
        context.t("admin.role_chosen", role=context.t(ROLE_KEYS[draft.role]))
    )
    return await _advance(update, context, draft)


async def zone_toggled(update: Update, context: AsaContext) -> str | int:
    """A zone button: tick or untick it, in place."""
    query, data = query_of(update)
    draft = await _button_draft(update, context)
    if draft is None:
        return _end(context)
    zone = data.removeprefix(ZONE_PREFIX)
    if not zone.isdecimal() or int(zone) not in await _known_zones(context):
        await query.answer(context.t("error.stale_button"))
        return CHOOSING_ZONES
    draft.zones = tuple(sorted(set(draft.zones) ^ {int(zone)}))
    _save(context, draft)
    await query.answer()
    await query.edit_message_reply_markup(await _zone_keyboard(context, draft))
    return CHOOSING_ZONES


async def zones_done(update: Update, context: AsaContext) -> str | int:
    """ "Done" under the zones: at least one must be ticked."""
    query, _ = query_of(update)
    draft = await _button_draft(update, context)
    if draft is None:
        return _end(context)
    if not draft.zones:
        await query.answer(context.t("admin.zones_required"), show_alert=True)
        return CHOOSING_ZONES
    await query.answer()
    zones = ", ".join(str(z) for z in draft.zones)
    await query.edit_message_text(context.t("admin.zones_chosen", zones=zones))
    return await _advance(update, context, draft)


async def _button_draft(update: Update, context: AsaContext) -> Draft | None:
    """The draft a pressed button belongs to, if the presser may still use it.

    None when the button is stale or the presser is no longer an admin (both answered here).
    """
    draft = _draft(context)
    if draft is None:
        query, _ = query_of(update)
        await query.answer(context.t("error.stale_button"))
        return None
    if await _refused(update, context):
        return None
    return draft


# ---------------------------------------------------------------------------------------------
# Naming the person: a forward, a contact, a phone number or an @username
# ---------------------------------------------------------------------------------------------


async def person_forwarded(update: Update, context: AsaContext) -> str | int:
    """A message forwarded from the person."""
    draft = _draft(context)
    if draft is None:
        return _end(context)
    origin = forwarded_from(message_of(update))
    if origin is None:
        await message_of(update).reply_text(context.t("admin.forward_hidden"))
        return NAMING_PERSON
    draft.telegram_id = origin
    return await _advance(update, context, draft)


async def person_contact(update: Update, context: AsaContext) -> str | int:
    """A shared contact: its Telegram account if it has one, else its phone number."""
    draft = _draft(context)
    contact = message_of(update).contact
    if draft is None or contact is None:
        return _end(context)
    if contact.user_id is not None:
        draft.telegram_id = contact.user_id
        return await _advance(update, context, draft)
    try:
        draft.phone = normalise_phone(contact.phone_number)
    except InvalidPhone:
        await message_of(update).reply_text(context.t("admin.person_unreadable"))
        return NAMING_PERSON
    return await _advance(update, context, draft)


async def person_typed(update: Update, context: AsaContext) -> str | int:
    """A typed phone number or @username."""
    draft = _draft(context)
    if draft is None:
        return _end(context)
    typed = parse_arguments(draft.action, (message_of(update).text or "").split())
    if not typed.has_person:
        await message_of(update).reply_text(context.t("admin.person_unreadable"))
        return NAMING_PERSON
    draft.phone, draft.username = typed.phone, typed.username
    return await _advance(update, context, draft)


async def remind(update: Update, context: AsaContext) -> str | int:
    """Anything else in a step: say what is expected and stay."""
    draft = _draft(context)
    if draft is None:
        return _end(context)
    if draft.role is None:
        markup = _role_keyboard(context.t)
        await message_of(update).reply_text(context.t("admin.use_buttons"), reply_markup=markup)
        return CHOOSING_ROLE
    if draft.action == GRANT and draft.role == Role.COORDINATOR and not draft.zones:
        await _ask_zones(message_of(update), context, draft)
        return CHOOSING_ZONES
    await message_of(update).reply_text(context.t("admin.person_unreadable"))
    return NAMING_PERSON


async def cancel(update: Update, context: AsaContext) -> int:
    """Leave the flow; nothing changed."""
    await message_of(update).reply_text(context.t("admin.cancelled"))
    return _end(context)


# ---------------------------------------------------------------------------------------------
# Doing it
# ---------------------------------------------------------------------------------------------


async def _execute(update: Update, context: AsaContext, draft: Draft) -> str | int:
    """Find the person, grant or revoke in the service, then tell everyone concerned."""
    role = draft.role
    if role is None:
        return _end(context)
    message = message_of(update)
    async with context.sessions() as session:
        actor = await sender_access(update, context, session)
        try:
            target = await roles.find_person(
                session=session,
                actor=actor,
                telegram_id=draft.telegram_id,
                phone=draft.phone,
                username=draft.username,
            )
            change = await _apply(context, session, actor, target, draft, role)
        except roles.PersonNotFound:
            draft.telegram_id = draft.phone = draft.username = None
            _save(context, draft)
            await message.reply_text(context.t("admin.person_not_found"))
            return NAMING_PERSON
        except DomainError as error:
            await message.reply_text(context.t(error.key, **error.values))
            return _end(context)
        target_access = await access_for(
            session=session,
            person=target,
            telegram_id=target.telegram_id,
            config_admins=context.settings.bot.admins,
        )
    await message.reply_text(_done_text(context.t, draft.action, target, change))
    await _tell_target(context, target, draft.action, change, target_access)
    return _end(context)


async def _apply(
    context: AsaContext,
    session: AsyncSession,
    actor: Access,
    target: Person,
    draft: Draft,
    role: Role,
) -> RoleChange:
    """The service call for this draft."""
    now = context.clock.now()
    if draft.action == GRANT:
        return await roles.grant(
            session=session, actor=actor, target=target, role=role, zones=draft.zones, now=now
        )
    return await roles.revoke(
        session=session,
        actor=actor,
        target=target,
        role=role,
        zones=draft.zones,
        now=now,
        config_admins=context.settings.bot.admins,
    )


async def _tell_target(
    context: AsaContext, target: Person, action: str, change: RoleChange, access: Access
) -> None:
    """The person's menu follows the change, then they learn of it in their language."""
    chat_id = target.telegram_id
    if chat_id is None:
        return
    await menus.refresh_menu(
        context.application,
        chat_id=chat_id,
        access=access,
        registered=True,
        lang=target.language,
    )
    text = _told_text(translator(target.language), action, change)
    try:
        await context.bot.send_message(chat_id, text)
    except TelegramError as error:
        _log.info("could not tell a person about a role change: %s", type(error).__name__)


def _told_text(t: Translator, action: str, change: RoleChange) -> str:
    """What the person whose roles changed reads."""
    role = t(ROLE_KEYS[change.role])
    zones = ", ".join(str(z) for z in sorted(change.zones_after))
    if change.role == Role.COORDINATOR and change.role in change.roles_after:
        if action == GRANT:
            return t("admin.you_were_granted_zones", role=role, zones=zones)
        return t("admin.your_zones_changed", zones=zones)
    if action == GRANT:
        return t("admin.you_were_granted", role=role)
    return t("admin.you_were_revoked", role=role)


def _done_text(t: Translator, action: str, target: Person, change: RoleChange) -> str:
    """What the admin reads after a change."""
    key = "admin.granted" if action == GRANT else "admin.revoked"
    who = _person_label(t, target.id, target.full_name, target.telegram_username)
    return t(key, role=t(ROLE_KEYS[change.role]), person=who) + _zones_suffix(t, change)


def _zones_suffix(t: Translator, change: RoleChange) -> str:
    """ " (zones 3, 4)" when the person coordinates zones now."""
    if change.role != Role.COORDINATOR or not change.zones_after:
        return ""
    return " " + t("admin.zones_now", zones=", ".join(str(z) for z in sorted(change.zones_after)))


# ---------------------------------------------------------------------------------------------
# /roles and /audit
# ---------------------------------------------------------------------------------------------


async def roles_command(update: Update, context: AsaContext) -> None:
    """Who holds which role."""
    message = message_of(update)
    async with context.sessions() as session:
        actor = await sender_access(update, context, session)
        try:
            holders = await roles.list_roles(
                session=session, actor=actor, config_admins=context.settings.bot.admins
            )
        except NotAllowed as error:
            await message.reply_text(context.t(error.key))
            return
    t = context.t
    lines = [t("admin.roles_header")]
    lines += [_holder_line(t, holder) for holder in holders] or [t("admin.roles_none")]
    for chunk in split_message(lines):
        await message.reply_text(chunk)


async def audit_command(update: Update, context: AsaContext) -> None:
    """/audit [n]: the latest n privileged acts, newest first."""
    message = message_of(update)
    args = list(context.args or [])
    if len(args) > 1 or (args and not args[0].isdecimal()):
        await message.reply_text(context.t("admin.audit_usage", max=audit.MAX_LATEST))
        return
    limit = int(args[0]) if args else audit.DEFAULT_LATEST
    async with context.sessions() as session:
        actor = await sender_access(update, context, session)
        try:
            entries = await audit.latest(session=session, access=actor, limit=limit)
        except NotAllowed as error:
            await message.reply_text(context.t(error.key))
            return
    lines = [context.t("admin.audit_header", count=len(entries))]
    lines += [_audit_line(context, entry) for entry in entries] or [context.t("admin.audit_none")]
    for chunk in split_message(lines):
        await message.reply_text(chunk)


def _holder_line(t: Translator, holder: roles.RoleHolder) -> str:
    """One person and their roles."""
    if holder.person_id is None:
        who = t("admin.unregistered_admin", telegram_id=holder.telegram_id)
    else:
        who = _person_label(t, holder.person_id, holder.full_name, holder.username)
    held = ", ".join(t(ROLE_KEYS[role]) for role in Role if role in holder.roles)
    if holder.zones:
        held += " " + t("admin.zones_now", zones=", ".join(str(z) for z in sorted(holder.zones)))
    if holder.config_admin:
        held += " " + t("admin.from_config")
    return f"• {who}: {held}"


def _audit_line(context: AsaContext, entry: AuditEntry) -> str:
    """When, who (by id), what, on which record, and the details."""
    t = context.t
    when = format_datetime(entry.at, lang=context.lang, tz=context.settings.tz, style="short")
    who = f"#{entry.actor_id}" if entry.actor_id is not None else t("admin.audit_system")
    key = ACTION_KEYS.get(entry.action)
    what = t(key) if key else entry.action
    parts = [when, who, what]
    if entry.target_type:
        parts.append(f"{entry.target_type} #{entry.target_id or '?'}")
    detail = _detail_text(t, entry.detail)
    if detail:
        parts.append(detail)
    return "• " + " · ".join(parts)[:300]


def _detail_text(t: Translator, detail: dict[str, Any]) -> str:
    """Detail values, readably: roles translated, lists joined."""
    shown: list[str] = []
    for name, value in detail.items():
        if name == "role" and value in Role._value2member_map_:
            shown.append(t(ROLE_KEYS[Role(value)]))
        elif isinstance(value, list):
            shown.append(f"{name}: {', '.join(str(v) for v in value)}")
        else:
            shown.append(f"{name}: {value}")
    return ", ".join(shown)


def _person_label(
    t: Translator, person_id: int | None, name: str | None, username: str | None
) -> str:
    """ "Somchai (@somchai) #12": how admins recognise someone."""
    label = name or t("admin.no_name")
    if username:
        label += f" (@{username})"
    return f"{label} #{person_id}"


def split_message(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join lines into as few messages as fit under Telegram's length limit."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


async def _refused(update: Update, context: AsaContext) -> bool:
    """Tell a non-admin no (as a message or a button answer); True when refused."""
    async with context.sessions() as session:
        actor = await sender_access(update, context, session)
    if actor.can(Capability.MANAGE_ROLES):
        return False
    text = context.t("error.not_allowed")
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    else:
        await message_of(update).reply_text(text)
    return True


async def _known_zones(context: AsaContext) -> frozenset[int]:
    """This deployment's zones."""
    async with context.sessions() as session:
        return await roles.known_zones(session=session)


def _role_keyboard(t: Translator) -> InlineKeyboardMarkup:
    """One button per role."""
    buttons = [
        InlineKeyboardButton(t(ROLE_KEYS[role]), callback_data=f"{ROLE_PREFIX}{role.value}")
        for role in Role
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


async def _zone_keyboard(context: AsaContext, draft: Draft) -> InlineKeyboardMarkup:
    """Zone buttons (ticked when chosen), four a row, and "done"."""
    buttons = [
        InlineKeyboardButton(
            ("✅ " if zone in draft.zones else "") + context.t("admin.zone_button", zone=zone),
            callback_data=f"{ZONE_PREFIX}{zone}",
        )
        for zone in sorted(await _known_zones(context))
    ]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append([InlineKeyboardButton(context.t("admin.zones_done"), callback_data=ZONES_DONE)])
    return InlineKeyboardMarkup(rows)


def _draft(context: AsaContext) -> Draft | None:
    """The draft in progress, if any."""
    return Draft.from_plain((context.user_data or {}).get(DRAFT_KEY))


def _save(context: AsaContext, draft: Draft) -> None:
    """Keep the draft between steps (and across a restart)."""
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft.to_plain()


def _end(context: AsaContext) -> int:
    """Forget the draft and leave the conversation."""
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)
    return ConversationHandler.END


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"grant", "revoke", "roles", "audit"})


def register(application: AsaApplication) -> None:
    """The /grant and /revoke conversation, /roles, /audit, and the menus at start-up."""
    # Only new messages: editing an old "/grant ..." must not grant again.
    new = filters.UpdateType.MESSAGE
    conversation = ConversationHandler(
        entry_points=[
            CommandHandler("grant", grant_command, filters=new),
            CommandHandler("revoke", revoke_command, filters=new),
        ],
        states={
            CHOOSING_ROLE: [
                CallbackQueryHandler(role_chosen, pattern=f"^{ROLE_PREFIX}"),
                MessageHandler(new & ~filters.COMMAND, remind),
            ],
            CHOOSING_ZONES: [
                CallbackQueryHandler(zone_toggled, pattern=f"^{ZONE_PREFIX}"),
                CallbackQueryHandler(zones_done, pattern=f"^{ZONES_DONE}$"),
                MessageHandler(new & ~filters.COMMAND, remind),
            ],
            NAMING_PERSON: [
                MessageHandler(new & filters.FORWARDED & ~filters.COMMAND, person_forwarded),
                MessageHandler(new & filters.CONTACT, person_contact),
                MessageHandler(new & filters.TEXT & ~filters.COMMAND, person_typed),
                MessageHandler(new & ~filters.COMMAND, remind),
            ],
        },
        fallbacks=[CommandHandler("cancel", cancel, filters=new)],
        name="admin_roles",
        persistent=True,
        allow_reentry=True,
    )
    application.add_handlers(
        [
            conversation,
            CommandHandler("roles", roles_command, filters=new),
            CommandHandler("audit", audit_command, filters=new),
        ],
        group=GROUP_MAIN,
    )
    menus.install(application)
