"""The web side's capabilities: venue screen links, laptop login links, signed values, and the
QR code a venue screen shows (the event's link bound to its current code).

Links are `<row id>.<signature>`: an HMAC-SHA256, keyed by a secret derived from the bot token
(`web_secret`), of what the link is for, its row id, its event and the row's random nonce. The
link itself is never stored, a copy of the database alone forges none, and a new bot token
ends every link at once. A screen link stops working when its event's check-in window ends,
when the event is cancelled, or when it is revoked ("new link").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, exists, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import codes
from bot.services.access import Access, Capability
from bot.services.checkins import current_code
from bot.services.errors import DomainError, NotAllowed
from bot.services.events import by_token, closes_at, get_event
from storage.models import (
    District,
    Event,
    EventStatus,
    Person,
    Registration,
    RegistrationStatus,
    ScreenLink,
    WebAction,
    WebLogin,
)

SIGNATURE_BYTES = 18  # 144 bits, 24 characters
_LINK = re.compile(r"^([0-9]{1,9})\.([A-Za-z0-9_-]{24})$")
# A venue screen's QR payload: the event's token, "-", then the code shown beside it.
_BOUND = re.compile(r"^([A-Za-z0-9_-]{16,54})-([A-Z2-9]{6})$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ScreenCodeChanged(DomainError):
    """A venue screen's QR from before the code changed: scan the one on the screen now."""

    key = "web.checkin.qr_changed"


class LinkInvalid(DomainError):
    """A link that is forged, revoked, used or out of date."""

    key = "web.link.invalid"


class EventOver(DomainError):
    """The event of this screen has ended (or was cancelled): the link works no more."""

    key = "web.link.event_over"


class AlreadyDone(DomainError):
    """This request was already carried out once; a replay changes nothing."""

    key = "web.action.replayed"


# ---------------------------------------------------------------------------------------------
# Signatures


def web_secret(bot_token: str) -> bytes:
    """The key of every web signature, derived from the bot token (never the token itself)."""
    return hmac.new(bot_token.encode(), b"asa web links v1", hashlib.sha256).digest()


def sign(secret: bytes, *parts: object) -> str:
    """A URL-safe signature of the parts, joined by ':'."""
    message = ":".join(str(part) for part in parts).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _split_link(link: str) -> tuple[int, str] | None:
    """(row id, signature) of a link's text, or None when it cannot be one."""
    match = _LINK.match(link)
    return (int(match.group(1)), match.group(2)) if match else None


def _nonce() -> str:
    return secrets.token_urlsafe(16)


# ---------------------------------------------------------------------------------------------
# Venue screen links


@dataclass(frozen=True)
class ScreenLinkInfo:
    """A screen link for an event: its path part, and until when it works."""

    event_id: int
    event_title: str
    link: str
    works_until: datetime
    # A new link replaced the earlier ones (which stopped working).
    renewed: bool


def screen_link_text(secret: bytes, row: ScreenLink) -> str:
    """The link of a row (`<id>.<signature>`)."""
    return f"{row.id}.{sign(secret, 'screen', row.id, row.event_id, row.nonce)}"


async def _in_zones(*, session: AsyncSession, event_id: int, zones: frozenset[int]) -> bool:
    """Whether people of these zones are registered for the event (events have no zone of
    their own: a coordinator's events are those their zones' people go to)."""
    if not zones:
        return False
    statement = select(
        exists().where(
            col(Registration.event_id) == event_id,
            col(Registration.status) == RegistrationStatus.REGISTERED,
            col(Registration.person_id) == col(Person.id),
            col(Person.district_code) == col(District.code),
            col(District.zone).in_(sorted(zones)),
        )
    )
    return bool((await session.exec(statement)).one())


async def require_screen_rights(*, session: AsyncSession, access: Access, event: Event) -> None:
    """Organisers and admins for any event; coordinators for events of their zones."""
    access.require(Capability.VIEW_HEADCOUNT)
    zones = access.zone_limit()
    if zones is None:
        return
    if not await _in_zones(session=session, event_id=event.id or 0, zones=zones):
        raise NotAllowed("zone")


def _check_live(event: Event, now: datetime) -> None:
    """A screen works until check-in closes for good, and never for a cancelled event."""
    if event.status == EventStatus.CANCELLED or now >= closes_at(event):
        raise EventOver(title=event.title)


async def screen_link(
    *,
    session: AsyncSession,
    access: Access,
    event_id: int,
    secret: bytes,
    now: datetime,
    renew: bool = False,
) -> ScreenLinkInfo:
    """The event's screen link: the working one, or a new one (`renew` revokes the others)."""
    event = await get_event(session=session, event_id=event_id)
    await require_screen_rights(session=session, access=access, event=event)
    _check_live(event, now)
    live = (
        select(ScreenLink)
        .where(col(ScreenLink.event_id) == event_id, col(ScreenLink.revoked_at).is_(None))
        .order_by(col(ScreenLink.id).desc())
    )
    current = None if renew else (await session.exec(live)).first()
    if renew:
        await session.exec(
            update(ScreenLink)
            .where(col(ScreenLink.event_id) == event_id, col(ScreenLink.revoked_at).is_(None))
            .values(revoked_at=now)
        )
    if current is None:
        current = ScreenLink(
            event_id=event_id, nonce=_nonce(), created_at=now, created_by_id=access.person_id
        )
        session.add(current)
        await session.flush()
    return ScreenLinkInfo(
        event_id=event_id,
        event_title=event.title,
        link=screen_link_text(secret, current),
        works_until=closes_at(event),
        renewed=renew,
    )


async def event_of_screen(
    *, session: AsyncSession, link: str, secret: bytes, now: datetime
) -> Event:
    """The event a screen link shows, or LinkInvalid / EventOver."""
    parts = _split_link(link)
    row = await session.get(ScreenLink, parts[0]) if parts is not None else None
    if (
        parts is None
        or row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(
            parts[1], sign(secret, "screen", row.id, row.event_id, row.nonce)
        )
    ):
        raise LinkInvalid()
    event = await get_event(session=session, event_id=row.event_id)
    _check_live(event, now)
    return event


# ---------------------------------------------------------------------------------------------
# The QR a venue screen shows


def bound_payload(event: Event, now: datetime) -> str:
    """The /start payload of a screen's QR: the event's link bound to the current code."""
    return codes.start_payload(f"{event.token}-{current_code(event, now)}")


async def checked_token(*, session: AsyncSession, payload: str, now: datetime) -> str:
    """The event token in a scanned payload, refusing a screen QR whose code has changed.

    A plain token (the organiser's printed QR) passes as it is; a screen's `<token>-<CODE>`
    must carry the code that works now.
    """
    match = _BOUND.match(payload)
    if match is None or await by_token(session=session, token=payload) is not None:
        return payload
    token, code = match.groups()
    event = await by_token(session=session, token=token)
    if event is not None and current_code(event, now) != code:
        raise ScreenCodeChanged(title=event.title)
    return token


# ---------------------------------------------------------------------------------------------
# Laptop login links


async def new_login(
    *,
    session: AsyncSession,
    access: Access,
    event_id: int,
    secret: bytes,
    now: datetime,
    lifetime: timedelta,
) -> str:
    """A one-time link that opens an event's dashboard on a laptop, for `lifetime`."""
    access.require(Capability.VIEW_HEADCOUNT)
    if access.person_id is None:
        raise NotAllowed("unregistered")
    await get_event(session=session, event_id=event_id)
    row = WebLogin(
        person_id=access.person_id,
        event_id=event_id,
        nonce=_nonce(),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return f"{row.id}.{sign(secret, 'login', row.id, row.person_id, row.event_id, row.nonce)}"


@dataclass(frozen=True)
class Login:
    """Who a used login link belongs to, and which dashboard it opens."""

    person_id: int
    telegram_id: int
    event_id: int


async def use_login(*, session: AsyncSession, link: str, secret: bytes, now: datetime) -> Login:
    """Spend a login link (once, before it expires), or LinkInvalid."""
    parts = _split_link(link)
    row = await session.get(WebLogin, parts[0]) if parts is not None else None
    if (
        parts is None
        or row is None
        or row.used_at is not None
        or now >= row.expires_at
        or not hmac.compare_digest(
            parts[1], sign(secret, "login", row.id, row.person_id, row.event_id, row.nonce)
        )
    ):
        raise LinkInvalid()
    # Spent by whichever request gets here first, even when two race.
    spent = await session.exec(
        update(WebLogin)
        .where(col(WebLogin.id) == row.id, col(WebLogin.used_at).is_(None))
        .values(used_at=now)
    )
    person = await session.get(Person, row.person_id)
    if spent.rowcount != 1 or person is None or person.telegram_id is None:
        raise LinkInvalid()
    if person.erased_at is not None:
        raise LinkInvalid()
    return Login(person_id=row.person_id, telegram_id=person.telegram_id, event_id=row.event_id)


# ---------------------------------------------------------------------------------------------
# One-time request ids: a replayed action changes nothing


async def spend_request(
    *, session: AsyncSession, request_id: str, telegram_id: int, now: datetime, keep: timedelta
) -> None:
    """Record an action's request id in its own transaction; AlreadyDone for one seen before.

    Ids older than `keep` (the longest a credential that could carry them stays valid) are
    forgotten on the way.
    """
    if not REQUEST_ID.match(request_id):
        raise AlreadyDone()
    await session.exec(delete(WebAction).where(col(WebAction.at) < now - keep))
    if await session.get(WebAction, request_id) is not None:
        raise AlreadyDone()
    session.add(WebAction(request_id=request_id, telegram_id=telegram_id, at=now))
    try:
        await session.flush()
    except IntegrityError:
        # The same id raced in from another request: that one counts.
        raise AlreadyDone() from None
