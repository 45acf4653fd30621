"""Events use cases: /events cards, sign-ups, the organisers' buttons, and saving /newevent.

Each is one transaction returning plain values. A card is always read in the same transaction
as the act that changes it, so the card an organiser or a volunteer sees after pressing a
button shows exactly what the press did. Notices (an event cancelled, a place freed) are queued
through the Notifier inside these transactions; nothing here talks to Telegram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.scope import Actor
from bot.services import chat_state, checkins, codes, events, live
from bot.services.access import Capability
from bot.services.errors import NotRegistered
from bot.services.events import EventFields, RsvpResult, SignUp, Switch
from bot.services.notify import Notifier
from bot.usecases import transaction
from storage.models import Event, EventStatus

# The flows that write an event (bot/handlers/events.py): saving one ends them.
NEW_EVENT_FLOW = "newevent"
EDIT_EVENT_FLOW = "editevent"


@dataclass(frozen=True)
class Card:
    """One event as a person sees it in /events."""

    event_id: int
    title: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    capacity: int | None
    signed_up: int
    waiting: int
    cancelled: bool
    checkin_open: bool
    # The viewer's own sign-up, if they have one.
    mine: SignUp | None
    # For people who may manage events (and only while it is active): the switches to offer,
    # and the fingerprint of the current code that a "new code" confirmation carries.
    switches: tuple[Switch, ...] = ()
    code_version: int | None = None

    @property
    def managed(self) -> bool:
        """Whether the viewer gets the organisers' buttons."""
        return bool(self.switches)


@dataclass(frozen=True)
class Codes:
    """How people check in to an event: the code to type now, the link behind the QR code."""

    title: str
    code: str
    link: str
    # When a rotating code stops working; None for a code that does not rotate.
    valid_until: datetime | None


class Action(StrEnum):
    """What a card button asks for (its callback data names it: `ev:<action>:<event id>`)."""

    SIGN_UP = "reg"
    WITHDRAW = "unreg"
    SWITCH = "switch"  # one of the organisers' switches (`Switch`)
    CODE = "code"
    ASK_ROTATE = "rot"
    ROTATE = "rotyes"  # confirmed, for one code (`version`)
    ASK_CANCEL = "cancel"
    CANCEL = "cancelyes"
    KEEP = "keep"  # a confirmation declined: the card comes back
    EDIT = "edit"  # starts the "editevent" flow (see existing_event)


@dataclass(frozen=True)
class Press:
    """A card button, parsed: what it asks for, for which event."""

    action: Action
    event_id: int
    switch: Switch | None = None
    version: int = 0


@dataclass(frozen=True)
class Pressed:
    """What a card button did: the card after it, and what there is to say besides."""

    card: Card
    # False when the button asked for a state the event already had (a second press).
    changed: bool = True
    sign_up: RsvpResult | None = None
    codes: Codes | None = None  # the codes to show (shown codes, or a new code)
    told: int = 0  # how many people a cancellation tells
    # Whether the event's reminder alarms must follow (check-in opened or closed by hand, or
    # the event cancelled).
    reschedule: bool = False


@dataclass(frozen=True)
class Saved:
    """A saved event: its title, and for a new one the codes to print."""

    event_id: int
    title: str
    codes: Codes | None


# ---------------------------------------------------------------------------------------------
# Cards


async def _cards(
    session: AsyncSession, *, actor: Actor, found: Sequence[Event], now: datetime
) -> list[Card]:
    """The cards of these events for this viewer, with counts read in two queries."""
    ids = [event.id or 0 for event in found]
    counts = await events.sign_up_counts(session=session, event_ids=ids)
    mine: dict[int, SignUp] = {}
    if actor.person_id is not None:
        mine = await events.sign_ups_of(session=session, person_id=actor.person_id, event_ids=ids)
    manager = actor.access.can(Capability.MANAGE_EVENTS)
    cards = []
    for event in found:
        event_id = event.id or 0
        signed_up, waiting = counts[event_id]
        active = event.status == EventStatus.ACTIVE
        checkin_open = active and checkins.window_open(event, now)
        managed = manager and active
        cards.append(
            Card(
                event_id=event_id,
                title=event.title,
                venue=event.venue,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                capacity=event.capacity,
                signed_up=signed_up,
                waiting=waiting,
                cancelled=not active,
                checkin_open=checkin_open,
                mine=mine.get(event_id),
                switches=events.switches(event, checkin_open=checkin_open) if managed else (),
                code_version=events.code_version(event) if managed else None,
            )
        )
    return cards


async def _card(session: AsyncSession, *, actor: Actor, event: Event, now: datetime) -> Card:
    """One event's card for this viewer."""
    [card] = await _cards(session, actor=actor, found=[event], now=now)
    return card


def _codes(event: Event, *, now: datetime, bot_username: str) -> Codes:
    """The code to type now and the deep link the QR code holds."""
    return Codes(
        title=event.title,
        code=checkins.current_code(event, now),
        link=codes.deep_link(bot_username, event.token),
        valid_until=checkins.code_valid_until(event, now),
    )


@transaction
async def list_cards(session: AsyncSession, *, actor: Actor, now: datetime) -> list[Card]:
    """Upcoming and current events, as this person sees them."""
    found = await events.upcoming(session=session, now=now)
    return await _cards(session, actor=actor, found=found, now=now)


# ---------------------------------------------------------------------------------------------
# Card buttons


def _person_id(actor: Actor) -> int:
    """Only people registered with the bot sign up for events."""
    if actor.person_id is None:
        raise NotRegistered()
    return actor.person_id


@transaction
async def press(
    session: AsyncSession,
    *,
    actor: Actor,
    button: Press,
    now: datetime,
    notifier: Notifier,
    bot_username: str,
) -> Pressed:
    """Do what a card button asks (the services check rights and the event's state; a
    confirmation only shows the card, to someone who may do what it confirms)."""
    event_id, access = button.event_id, actor.access
    changed, sign_up, told = True, None, 0
    if button.action is Action.SIGN_UP:
        sign_up = await events.rsvp(
            session=session, event_id=event_id, person_id=_person_id(actor), now=now
        )
        event = await events.get_event(session=session, event_id=event_id)
    elif button.action is Action.WITHDRAW:
        await events.withdraw(
            session=session,
            notifier=notifier,
            event_id=event_id,
            person_id=_person_id(actor),
            now=now,
        )
        event = await events.get_event(session=session, event_id=event_id)
    elif button.action is Action.SWITCH and button.switch is not None:
        done = await events.flip(
            session=session, access=access, event_id=event_id, switch=button.switch, now=now
        )
        event, changed = done.event, done.changed
    elif button.action is Action.ROTATE:
        done = await events.rotate_confirmed(
            session=session, access=access, event_id=event_id, version=button.version, now=now
        )
        event, changed = done.event, done.changed
    elif button.action is Action.CANCEL:
        cancelled = await events.cancel_event(
            session=session, access=access, event_id=event_id, now=now, notifier=notifier
        )
        event, told = cancelled.event, cancelled.told
    else:  # show codes, ask to confirm, or back to the card
        event = await events.event_to_manage(session=session, access=access, event_id=event_id)
    if changed and button.action in (Action.SWITCH, Action.ROTATE, Action.CANCEL):
        # Venue screens and dashboards (any replica) follow the code and the check-in state.
        await live.changed(session, event_id=event_id)
    shows_codes = button.action is Action.CODE or (button.action is Action.ROTATE and changed)
    return Pressed(
        card=await _card(session, actor=actor, event=event, now=now),
        changed=changed,
        sign_up=sign_up,
        codes=_codes(event, now=now, bot_username=bot_username) if shows_codes else None,
        told=told,
        reschedule=button.action is Action.CANCEL
        or (changed and button.switch in (Switch.OPEN, Switch.CLOSE)),
    )


# ---------------------------------------------------------------------------------------------
# /newevent and editing


@transaction
async def existing_event(session: AsyncSession, *, actor: Actor, event_id: int) -> EventFields:
    """An active event's details, for someone who may change them."""
    event = await events.event_to_manage(session=session, access=actor.access, event_id=event_id)
    return events.fields_of(event)


async def _end_event_flow(session: AsyncSession, *, telegram_id: int, now: datetime) -> None:
    """The event is saved: the flow that wrote it ends in the same transaction, so a second
    press of "confirm" (or one after a crash) finds nothing left to save."""
    await chat_state.end_flow(
        session, telegram_id=telegram_id, only=(NEW_EVENT_FLOW, EDIT_EVENT_FLOW), now=now
    )


@transaction
async def save(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int | None,
    fields: EventFields,
    now: datetime,
    notifier: Notifier,
    bot_username: str,
) -> Saved:
    """Create the event (its codes come back), or change an existing one (whoever a larger
    capacity moves up from the waiting list is told)."""
    if event_id is None:
        event = await events.create_event(
            session=session, access=actor.access, fields=fields, now=now
        )
        shown: Codes | None = _codes(event, now=now, bot_username=bot_username)
    else:
        event, _ = await events.update_event(
            session=session,
            access=actor.access,
            event_id=event_id,
            fields=fields,
            now=now,
            notifier=notifier,
        )
        shown = None
        await live.changed(session, event_id=event.id or 0)
    await _end_event_flow(session, telegram_id=actor.telegram_id, now=now)
    return Saved(event_id=event.id or 0, title=event.title, codes=shown)
