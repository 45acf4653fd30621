"""Admins manage roles (/grant, /revoke, /roles) and read the audit trail (/audit).

`/grant <role> [zones] <who>` and `/revoke <role> [zones] <who>`, where <who> is a phone number
or an @username of a registered person, or the command is sent as a reply to a message
forwarded from them. Whatever is missing is asked for, in a flow (the role and the zones with
buttons, then the person by a forward, a shared contact, a phone number or an @username):

    /grant coordinator 3 4 @somchai      /grant staff 081 234 5678
    /revoke coordinator 4 @somchai       /grant   (then buttons, then the person)

The registry lets only admins use the commands; every button press and every step is checked
again by the use case it calls, so an admin who loses the role mid-flow can do nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, MessageOriginHiddenUser, MessageOriginUser, Update

from bot.context import AsaApplication, AsaContext
from bot.flows import Flow, Input, Run
from bot.handlers import menus
from bot.handlers.common import edit_markup, split_message
from bot.handlers.dispatch import Callback
from bot.handlers.updates import args_of, message_of, parse_id, query_of, text_of
from bot.i18n import Translator, terms
from bot.i18n.dates import format_datetime
from bot.services import audit, roles
from bot.services.audit import AuditAction
from bot.services.errors import DomainError
from bot.services.roles import RoleAction
from bot.services.validation import InvalidPhone, normalise_phone
from bot.usecases import admin as admin_uc
from bot.usecases.admin import AuditLine, PersonRef, RoleChanged
from storage.models import Role

# A zone is a small number without a leading zero; "02 123 4567" is a Bangkok landline.
_ZONE_TOKEN = re.compile(r"[1-9][0-9]{0,2}")
_USERNAME_TOKEN = re.compile(r"@[A-Za-z0-9_]{3,32}")
# Longer than any phone number or @username with a little around it: more is not a person.
PERSON_MAX_CHARS = 100
ZONES_PER_ROW = 4
AUDIT_LINE_MAX_CHARS = 300
COUNT_MAX_DIGITS = 4

# Flow button payloads: a role's value, "z:<zone>" to tick a zone, "done" under the zones.
ZONE_PAYLOAD = "z:"
ZONES_DONE = "done"

# What each audit action is called in /audit: one key per action (tests check every member).
ACTION_KEYS: dict[AuditAction, str] = {
    action: "admin.audit." + action.value.replace(".", "_") for action in AuditAction
}


@dataclass
class RoleDraft:
    """What an admin has said so far."""

    action: RoleAction
    role: Role | None = None
    zones: list[int] = field(default_factory=list)
    telegram_id: int | None = None
    phone: str | None = None
    username: str | None = None

    @property
    def has_person(self) -> bool:
        """Whether the person is named."""
        return any(v is not None for v in (self.telegram_id, self.phone, self.username))

    def forget_person(self) -> None:
        """The person named matched nobody: ask again."""
        self.telegram_id = self.phone = self.username = None

    @property
    def person(self) -> PersonRef:
        """The person as the use case takes it."""
        return PersonRef(telegram_id=self.telegram_id, phone=self.phone, username=self.username)

    @property
    def wants_zones(self) -> bool:
        """A new coordinator without zones yet: the zones are asked for next."""
        return self.action is RoleAction.GRANT and self.role == Role.COORDINATOR and not self.zones


GRANT_FLOW = Flow("grant", RoleDraft, title_key="flow.grant", hint_key="admin.use_buttons")
REVOKE_FLOW = Flow("revoke", RoleDraft, title_key="flow.revoke", hint_key="admin.use_buttons")
FLOW_OF = {RoleAction.GRANT: GRANT_FLOW, RoleAction.REVOKE: REVOKE_FLOW}


@dataclass
class Arguments:
    """A /grant or /revoke command line, read."""

    draft: RoleDraft
    # Something that should have named the person but could not be read as a phone number.
    unreadable_person: bool = False


def parse_arguments(action: RoleAction, args: list[str]) -> Arguments:
    """Read "<role> [zones] <who>" in any reasonable form; what is missing stays None."""
    draft = RoleDraft(action=action)
    tokens = [part for arg in args for part in arg.split(",") if part]
    phone_parts: list[str] = []
    zones: set[int] = set()
    for token in tokens:
        role = roles.parse_role(token)
        if role is not None and draft.role is None:
            draft.role = role
        elif _USERNAME_TOKEN.fullmatch(token) and draft.username is None:
            draft.username = token
        elif _ZONE_TOKEN.fullmatch(token) and not phone_parts:
            zones.add(int(token))
        else:
            phone_parts.append(token)
    draft.zones = sorted(zones)
    unreadable = False
    if phone_parts and draft.username is None:
        try:
            draft.phone = normalise_phone(" ".join(phone_parts)[:PERSON_MAX_CHARS])
        except InvalidPhone:
            unreadable = True
    return Arguments(draft, unreadable)


def forwarded_from(message: Message | None) -> int | None:
    """The Telegram id of the person a message was forwarded from, if Telegram tells."""
    if message is None or not isinstance(message.forward_origin, MessageOriginUser):
        return None
    return message.forward_origin.sender_user.id


def forward_is_hidden(message: Message | None) -> bool:
    """Whether the message was forwarded from someone who hides their account in forwards."""
    return message is not None and isinstance(message.forward_origin, MessageOriginHiddenUser)


# ---------------------------------------------------------------------------------------------
# /grant and /revoke


async def grant_command(update: Update, context: AsaContext) -> None:
    """/grant: act at once when everything is given, else ask for what is missing."""
    await _start(update, context, RoleAction.GRANT)


async def revoke_command(update: Update, context: AsaContext) -> None:
    """/revoke: the same as /grant, the other way."""
    await _start(update, context, RoleAction.REVOKE)


async def _start(update: Update, context: AsaContext, action: RoleAction) -> None:
    """Read the arguments and the replied-to forward, then ask for the first thing missing."""
    message = message_of(update)
    parsed = parse_arguments(action, args_of(context))
    draft = parsed.draft
    replied_to = message.reply_to_message
    if forward_is_hidden(replied_to):
        await message.reply_text(context.t("admin.forward_hidden"))
    elif not draft.has_person:
        draft.telegram_id = forwarded_from(replied_to)
    if parsed.unreadable_person:
        await message.reply_text(context.t("admin.person_unreadable"))
    await _advance(update, context, FLOW_OF[action].start(draft, "role"))


async def _advance(
    update: Update,
    context: AsaContext,
    run: Run[RoleDraft],
    *,
    chosen: str | None = None,
    zones_final: bool = False,
) -> None:
    """Ask for the first thing missing, or do it; each step is checked by its use case first.

    `chosen` (after a button press) is what the pressed question says once it is answered;
    `zones_final`: the admin pressed "done" under the zones, so none are asked for again.
    """
    draft = run.draft
    if draft.role is None:
        await _acknowledge(update, chosen)
        await _ask_role(context, run)
        return
    wants_zones = draft.wants_zones and not zones_final
    try:
        if wants_zones or not draft.has_person:
            zones = await admin_uc.zone_choices(
                context.db,
                actor=context.actor,
                action=draft.action,
                role=draft.role,
                zones=draft.zones,
                zones_final=not wants_zones,
            )
        else:
            done = await admin_uc.change_role(
                context.db,
                actor=context.actor,
                action=draft.action,
                role=draft.role,
                zones=draft.zones,
                person=draft.person,
                notifier=context.runtime.notifier,
                config_admins=context.settings.bot.admins,
                now=context.clock.now(),
            )
    except roles.PersonNotFound:
        draft.forget_person()
        await _acknowledge(update, chosen)
        await run.ask(context, context.t("admin.person_not_found"), step="person")
        return
    except DomainError as error:
        await _refuse(update, context, run, error)
        return
    await _acknowledge(update, chosen)
    if wants_zones:
        await _ask_zones(context, run, zones)
    elif not draft.has_person:
        await run.ask(context, context.t("admin.ask_person"), step="person")
    else:
        await _finish(update, context, run, done)


async def _acknowledge(update: Update, chosen: str | None) -> None:
    """A pressed button is answered, and its question now says what was chosen."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    if chosen is not None:
        await query.edit_message_text(chosen)


async def _refuse(
    update: Update, context: AsaContext, run: Run[RoleDraft], error: DomainError
) -> None:
    """Say why not (a button's alert, or a message); the flow ends unless zones are missing."""
    text = context.t(error.key, **error.values)
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    else:
        await message_of(update).reply_text(text)
    if not isinstance(error, roles.ZonesRequired) and context.actor.flow is not None:
        await run.end(context)


async def _finish(
    update: Update, context: AsaContext, run: Run[RoleDraft], done: RoleChanged
) -> None:
    """The change is made: the flow ends, the person's menu follows, the admin is told."""
    if context.actor.flow is not None:
        await run.end(context)
    target = done.target
    await menus.refresh_menu(
        context.application,
        chat_id=target.chat_id,
        access=target.access,
        registered=True,
        lang=target.lang,
    )
    await context.bot.send_message(context.actor.telegram_id, _done_text(context.t, done))


# ---------------------------------------------------------------------------------------------
# The flow's questions and answers


def _role_name(t: Translator, role: Role) -> str:
    """A role in the one term every screen uses."""
    return t(terms.access_role(role))


async def _ask_role(context: AsaContext, run: Run[RoleDraft]) -> None:
    """One button per role."""
    key = (
        "admin.ask_role_grant" if run.draft.action is RoleAction.GRANT else "admin.ask_role_revoke"
    )
    buttons = [(_role_name(context.t, role), role.value) for role in Role]
    await run.ask(context, context.t(key), step="role", buttons=[buttons[:2], buttons[2:]])


async def _ask_zones(context: AsaContext, run: Run[RoleDraft], zones: tuple[int, ...]) -> None:
    """The zone buttons, with the chosen ones ticked, and "done"."""
    await run.ask(
        context, context.t("admin.ask_zones"), step="zones", buttons=_zone_rows(context, run, zones)
    )


def _zone_rows(
    context: AsaContext, run: Run[RoleDraft], zones: tuple[int, ...]
) -> list[list[tuple[str, str]]]:
    """Zones four a row (ticked when chosen), then "done"."""
    buttons = [
        (
            ("✅ " if zone in run.draft.zones else "") + context.t("admin.zone_button", zone=zone),
            f"{ZONE_PAYLOAD}{zone}",
        )
        for zone in zones
    ]
    rows = [buttons[i : i + ZONES_PER_ROW] for i in range(0, len(buttons), ZONES_PER_ROW)]
    rows.append([(context.t("admin.zones_done"), ZONES_DONE)])
    return rows


async def role_chosen(
    update: Update, context: AsaContext, run: Run[RoleDraft], payload: str
) -> None:
    """A role button: the role, then whatever is missing next."""
    role = next((role for role in Role if role.value == payload), None)
    if role is None:
        query, _ = query_of(update)
        await query.answer(context.t("error.stale_button"))
        return
    run.draft.role = role
    chosen = context.t("admin.role_chosen", role=_role_name(context.t, role))
    await _advance(update, context, run, chosen=chosen)


async def zone_pressed(
    update: Update, context: AsaContext, run: Run[RoleDraft], payload: str
) -> None:
    """A zone button ticks or unticks it in place; "done" goes on (with at least one zone)."""
    query, _ = query_of(update)
    if payload == ZONES_DONE:
        await _zones_done(update, context, run)
        return
    zone = (
        parse_id(payload.removeprefix(ZONE_PAYLOAD)) if payload.startswith(ZONE_PAYLOAD) else None
    )
    zones = await _zones_or_refuse(update, context, run)
    if zones is None:
        return
    if zone is None or zone not in zones:
        await query.answer(context.t("error.stale_button"))
        return
    run.draft.zones = sorted(set(run.draft.zones) ^ {zone})
    await run.save(context)
    await query.answer()
    await edit_markup(query, run.keyboard(_zone_rows(context, run, zones)))


async def _zones_or_refuse(
    update: Update, context: AsaContext, run: Run[RoleDraft]
) -> tuple[int, ...] | None:
    """The zones to offer, once the presser is checked again (None: refused and told)."""
    try:
        return await admin_uc.zone_choices(
            context.db,
            actor=context.actor,
            action=run.draft.action,
            role=run.draft.role,
            zones=(),
            zones_final=False,
        )
    except DomainError as error:
        await _refuse(update, context, run, error)
        return None


async def _zones_done(update: Update, context: AsaContext, run: Run[RoleDraft]) -> None:
    """Zones chosen: the person next, or the change when the person is known (the rules say
    whether no zone at all is enough; the zones stay open if not)."""
    zones = ", ".join(str(zone) for zone in run.draft.zones)
    chosen = context.t("admin.zones_chosen", zones=zones) if zones else None
    await _advance(update, context, run, chosen=chosen, zones_final=True)


async def person_given(update: Update, context: AsaContext, run: Run[RoleDraft]) -> None:
    """The person: a forwarded message, a shared contact, or a typed phone number or @username."""
    message = message_of(update)
    draft = run.draft
    if message.forward_origin is not None:
        origin = forwarded_from(message)
        if origin is None:
            await message.reply_text(context.t("admin.forward_hidden"))
            return
        draft.telegram_id = origin
    elif message.contact is not None:
        if message.contact.user_id is not None:
            draft.telegram_id = message.contact.user_id
        else:
            try:
                draft.phone = normalise_phone(message.contact.phone_number[:PERSON_MAX_CHARS])
            except InvalidPhone:
                await message.reply_text(context.t("admin.person_unreadable"))
                return
    else:
        typed = parse_arguments(draft.action, text_of(update)[:PERSON_MAX_CHARS].split()).draft
        if not typed.has_person:
            await message.reply_text(context.t("admin.person_unreadable"))
            return
        draft.phone, draft.username = typed.phone, typed.username
    await _advance(update, context, run)


async def ask_again(update: Update, context: AsaContext, run: Run[RoleDraft]) -> None:
    """The current step's question, again (after /help, /lang or input it cannot use)."""
    if run.step == "person":
        await run.ask(context, context.t("admin.ask_person"), step="person")
        return
    if run.step == "zones":
        zones = await _zones_or_refuse(update, context, run)
        if zones is not None:
            await _ask_zones(context, run, zones)
        return
    await _ask_role(context, run)


for _flow in (GRANT_FLOW, REVOKE_FLOW):
    _flow.on_button("role")(role_chosen)
    _flow.on_button("zones")(zone_pressed)
    _flow.on_input("person", Input.TEXT, Input.CONTACT, Input.OTHER)(person_given)
    _flow.reasker(ask_again)


# ---------------------------------------------------------------------------------------------
# Replies


def _person_label(
    t: Translator, person_id: int | None, name: str | None, username: str | None
) -> str:
    """ "Somchai (@somchai) #12": how admins recognise someone."""
    label = name or t("admin.no_name")
    if username:
        label += f" (@{username})"
    return f"{label} #{person_id}"


def _zones_text(t: Translator, zones: frozenset[int]) -> str:
    """ "(zones 3, 4)"."""
    return t("admin.zones_now", zones=", ".join(str(zone) for zone in sorted(zones)))


def _done_text(t: Translator, done: RoleChanged) -> str:
    """What the admin reads after a change."""
    key = "admin.granted" if done.action is RoleAction.GRANT else "admin.revoked"
    target, change = done.target, done.change
    who = _person_label(t, target.person_id, target.full_name, target.username)
    text = t(key, role=_role_name(t, change.role), person=who)
    if change.role == Role.COORDINATOR and change.zones_after:
        text += " " + _zones_text(t, change.zones_after)
    return text


# ---------------------------------------------------------------------------------------------
# /roles and /audit


async def roles_command(update: Update, context: AsaContext) -> None:
    """Who holds which role."""
    holders = await admin_uc.role_holders(
        context.db, actor=context.actor, config_admins=context.settings.bot.admins
    )
    t = context.t
    lines = [t("admin.roles_header")]
    lines += [_holder_line(t, holder) for holder in holders] or [t("admin.roles_none")]
    for chunk in split_message("\n".join(lines)):
        await message_of(update).reply_text(chunk)


def _holder_line(t: Translator, holder: roles.RoleHolder) -> str:
    """One person and their roles."""
    if holder.person_id is None:
        who = t("admin.unregistered_admin", telegram_id=holder.telegram_id)
    else:
        who = _person_label(t, holder.person_id, holder.full_name, holder.username)
    held = ", ".join(_role_name(t, role) for role in Role if role in holder.roles)
    if holder.zones:
        held += " " + _zones_text(t, holder.zones)
    if holder.config_admin:
        held += " " + t("admin.from_config")
    return f"• {who}: {held}"


async def audit_command(update: Update, context: AsaContext) -> None:
    """/audit [n]: the latest n privileged acts, newest first."""
    args = args_of(context)
    limit = _count(args[0]) if len(args) == 1 else None
    if len(args) > 1 or (args and limit is None):
        await message_of(update).reply_text(context.t("admin.audit_usage", max=audit.MAX_LATEST))
        return
    entries = await admin_uc.latest_audit(
        context.db, actor=context.actor, limit=limit or audit.DEFAULT_LATEST
    )
    lines = [context.t("admin.audit_header", count=len(entries))]
    lines += [_audit_line(context, entry) for entry in entries] or [context.t("admin.audit_none")]
    for chunk in split_message("\n".join(lines)):
        await message_of(update).reply_text(chunk)


def _count(text: str) -> int | None:
    """A count typed in Arabic or Thai digits ("10", "๑๐"), or None; never a huge number."""
    if not text.isdecimal() or len(text) > COUNT_MAX_DIGITS:
        return None
    return int(text)


def _audit_line(context: AsaContext, entry: AuditLine) -> str:
    """When, who (by record number), what, on which record, and the details."""
    t = context.t
    when = format_datetime(entry.at, lang=context.lang, tz=context.settings.tz, style="short")
    who = f"#{entry.actor_id}" if entry.actor_id is not None else t("admin.audit_system")
    what = t(ACTION_KEYS[entry.action]) if entry.action is not None else entry.code
    parts = [when, who, what]
    if entry.target_type:
        parts.append(f"{entry.target_type} #{entry.target_id or '?'}")
    detail = _detail_text(t, entry.detail)
    if detail:
        parts.append(detail)
    return "• " + " · ".join(parts)[:AUDIT_LINE_MAX_CHARS]


def _detail_text(t: Translator, detail: dict[str, Any]) -> str:
    """Detail values, readably: roles in their term, lists joined."""
    shown: list[str] = []
    for name, value in detail.items():
        if name == "role" and value in Role._value2member_map_:
            shown.append(_role_name(t, Role(value)))
        elif isinstance(value, list):
            shown.append(f"{name}: {', '.join(str(v) for v in value)}")
        else:
            shown.append(f"{name}: {value}")
    return ", ".join(shown)


# ---------------------------------------------------------------------------------------------
# Wiring

COMMANDS: dict[str, Callback] = {
    "grant": grant_command,
    "revoke": revoke_command,
    "roles": roles_command,
    "audit": audit_command,
}


def register(application: AsaApplication) -> None:
    """No buttons of its own (the flows' buttons go through the dispatcher); the menus."""
    menus.install(application)
