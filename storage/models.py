"""SQLModel tables: everything that must survive a restart is a row here.

Enumerated values are stored as short strings (the `StrEnum`s below name them) rather than
database enum types, so adding a value never needs a migration that locks a table.
All times are aware UTC datetimes (`UTCDateTime`); the bot shows them in Asia/Bangkok.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DDL, JSON, BigInteger, Column, Index, Text, UniqueConstraint, event
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class ParticipantType(StrEnum):
    """Who a person is at an event; the ministry groups these three ways in its reports."""

    VOLUNTEER = "volunteer"
    OFFICIAL = "official"
    SPEAKER = "speaker"
    CIVIL_SERVANT = "civil_servant"
    STAFF = "staff"
    OBSERVER = "observer"


class Agency(StrEnum):
    """The five agencies of the Ministry of Labour."""

    PERMANENT_SECRETARY = "ops"
    EMPLOYMENT = "doe"
    SKILL_DEVELOPMENT = "dsd"
    LABOUR_PROTECTION = "dlpw"
    SOCIAL_SECURITY = "sso"


class VolunteerRole(StrEnum):
    """A labour volunteer's role in the network."""

    VOLUNTEER = "volunteer"
    ZONE_CHAIR = "zone_chair"
    ZONE_COORDINATOR = "zone_coordinator"
    TAXI_CHAIR = "taxi_chair"
    TAXI_COORDINATOR = "taxi_coordinator"


class Role(StrEnum):
    """A privilege in the bot (volunteer is implicit for everyone registered)."""

    ADMIN = "admin"
    ORGANISER = "organiser"
    COORDINATOR = "coordinator"
    STAFF = "staff"


class CheckInMethod(StrEnum):
    """How a person was checked in."""

    QR = "qr"
    CODE = "code"
    LOCATION = "location"
    STAFF = "staff"
    WALKIN = "walkin"


class RegistrationStatus(StrEnum):
    """An RSVP's state."""

    REGISTERED = "registered"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class EventStatus(StrEnum):
    """An event's life."""

    ACTIVE = "active"
    CANCELLED = "cancelled"


class AnnouncementStatus(StrEnum):
    """Where an announcement is in the outbox."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    """One recipient's copy of an announcement."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class Person(SQLModel, table=True):
    """Someone the bot knows: a registered Telegram user or a walk-in without Telegram."""

    __table_args__ = (
        Index("ix_person_phone", "phone"),
        # Only merged-away records: tiny, and it turns "not merged" in every count into a probe
        # instead of a scan of everyone (docs/notes/reports.md measured 61-69 -> 40 ms).
        Index(
            "ix_person_merged",
            "id",
            postgresql_where=sql_text("merged_into_id IS NOT NULL"),
            sqlite_where=sql_text("merged_into_id IS NOT NULL"),
        ),
        Index("ix_person_type_district", "participant_type", "district_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    telegram_username: str | None = Field(default=None, max_length=64, index=True)
    language: str = Field(default="th", max_length=8)
    full_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    participant_type: str = Field(default=ParticipantType.VOLUNTEER, max_length=24)
    agency: str | None = Field(default=None, max_length=8)
    district_code: str | None = Field(default=None, max_length=8)
    volunteer_role: str | None = Field(default=None, max_length=24)
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_version: str | None = Field(default=None, max_length=32)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_active_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_walkin: bool = False
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    # Set when staff confirmed this record is the same person as another one (a walk-in who
    # also registered on Telegram): the other record is kept, this one counts no more.
    merged_into_id: int | None = Field(default=None, foreign_key="person.id")


class PersonMerge(SQLModel, table=True):
    """Two records found to be one person: what moved, so that the merge can be undone."""

    __tablename__ = "person_merge"

    id: int | None = Field(default=None, primary_key=True)
    kept_id: int = Field(foreign_key="person.id", index=True)
    merged_id: int = Field(foreign_key="person.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    by_id: int | None = Field(default=None, foreign_key="person.id")
    # Why they are the same person: "contact" (the same phone shared through Telegram's contact
    # button), "staff" (confirmed by staff at the door or in a merge offer).
    reason: str = Field(max_length=16)
    # Ids of the check-ins and registrations moved, and copies of those dropped because the
    # kept record had one for the same event; enough to restore both records exactly.
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    undone_by_id: int | None = Field(default=None, foreign_key="person.id")


class District(SQLModel, table=True):
    """A Bangkok district and its zone, synced from the shipped data file at start-up.

    Kept as a table so headcounts can group by zone in SQL.
    """

    code: str = Field(primary_key=True, max_length=8)
    name_th: str = Field(max_length=64)
    name_en: str = Field(max_length=64)
    zone: int | None = Field(default=None, index=True)


class RoleGrant(SQLModel, table=True):
    """A privilege held by a person."""

    __table_args__ = (UniqueConstraint("person_id", "role", name="uq_role_grant_person_role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(max_length=16)
    granted_by_id: int | None = Field(default=None, foreign_key="person.id")
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CoordinatorZone(SQLModel, table=True):
    """A zone a coordinator looks after."""

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    zone: int = Field(primary_key=True)


class Event(SQLModel, table=True):
    """A seminar or field event people check in to."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    venue: str = Field(max_length=200)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    latitude: float | None = None
    longitude: float | None = None
    radius_m: int = 200
    capacity: int | None = None
    code: str = Field(max_length=12, unique=True)
    token: str = Field(max_length=64, unique=True)
    opens_before_minutes: int = 60
    closes_after_minutes: int = 0
    checkin_override: str | None = Field(default=None, max_length=8)
    code_rotate_seconds: int | None = None
    code_rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checkout_enabled: bool = False
    status: str = Field(default=EventStatus.ACTIVE, max_length=16)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Registration(SQLModel, table=True):
    """A person's RSVP to an event (and their place on the waiting list)."""

    __table_args__ = (
        UniqueConstraint("event_id", "person_id", name="uq_registration_event_person"),
        Index("ix_registration_event_status", "event_id", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    status: str = Field(default=RegistrationStatus.REGISTERED, max_length=16)
    attending: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CheckIn(SQLModel, table=True):
    """A person's arrival at an event: at most one per (event, person), enforced by the database."""

    __table_args__ = (
        UniqueConstraint("event_id", "person_id", name="uq_checkin_event_person"),
        Index("ix_checkin_event_time", "event_id", "checked_in_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    checked_in_at: datetime = Field(sa_type=UTCDateTime)
    method: str = Field(max_length=16)
    performed_by_id: int | None = Field(default=None, foreign_key="person.id")
    late: bool = False
    checked_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The channel on which PostgreSQL tells every process that an event changed (its id as the
# payload); bot/services/live.py and the web hub's LISTEN use it.
LIVE_CHANNEL = "asa_live"

# On PostgreSQL, every statement that inserts check-ins tells the live screens itself, once per
# event, at commit: no route can forget to, and the check-in's transaction needs no NOTIFY
# statement of its own (a round trip on the hottest path). A statement trigger with a
# transition table: a bulk insert notifies once per event, an insert that conflicted none.
# (The channel is LIVE_CHANNEL, spelled out in the SQL.)
CHECKIN_LIVE_DDL = (
    """CREATE OR REPLACE FUNCTION asa_checkin_tells_live() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('asa_live', event_id::text)
    FROM (SELECT DISTINCT event_id FROM inserted) AS events;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER checkin_tells_live AFTER INSERT ON checkin
REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
EXECUTE FUNCTION asa_checkin_tells_live()""",
)
for _statement in CHECKIN_LIVE_DDL:
    _ddl = DDL(_statement)  # type: ignore[no-untyped-call]
    event.listen(
        CheckIn.__table__,  # type: ignore[attr-defined]
        "after_create",
        _ddl.execute_if(dialect="postgresql"),
    )


class AnnouncementKind(StrEnum):
    """Who wrote an announcement: a person (broadcast), the reminder rules, or the bot itself."""

    BROADCAST = "broadcast"
    REMINDER = "reminder"
    # Notices (an event cancelled, a place freed, a role granted, a delivery report): a
    # translation key and its values, rendered in each recipient's language when sent.
    NOTICE = "notice"


class Announcement(SQLModel, table=True):
    """A broadcast, a reminder or a notice: one row, plus one delivery per recipient."""

    __table_args__ = (
        # A reminder of one kind goes out once per event, however often the alarm fires.
        UniqueConstraint("event_id", "reminder_kind", name="uq_announcement_event_reminder"),
        Index("ix_announcement_status_send_at", "status", "send_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    author_id: int | None = Field(default=None, foreign_key="person.id")
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    entities: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    event_id: int | None = Field(default=None, foreign_key="event.id")
    reminder_kind: str | None = Field(default=None, max_length=24)
    kind: str = Field(default=AnnouncementKind.BROADCAST, max_length=16)
    # For notices: the translation key and its values (see bot/services/notify.py).
    template: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    status: str = Field(default=AnnouncementStatus.SCHEDULED, max_length=16)
    send_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    report_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One recipient's copy of an announcement: the outbox row the dispatcher works through."""

    __table_args__ = (
        # One copy per chat: a config admin who never registered has a chat but no person.
        UniqueConstraint("announcement_id", "chat_id", name="uq_delivery_announcement_chat"),
        Index("ix_delivery_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    announcement_id: int = Field(foreign_key="announcement.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    chat_id: int = Field(sa_type=BigInteger)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The process that claimed it; a copy claimed by a process that died is sent again and
    # counted as possibly received twice (`resent`).
    claimed_by: str | None = Field(default=None, max_length=64)
    resent: bool = False
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = Field(default=None, max_length=200)


class AuditEntry(SQLModel, table=True):
    """An append-only record of a privileged act; never holds a phone number or message text."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=48)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ChatState(SQLModel, table=True):
    """One Telegram user's conversation with the bot: their language and the flow they are in.

    Read at the start of every update and written when it changes, so a person half-way
    through a flow continues after a restart, or on another replica. A finished flow leaves an
    empty draft: no personal data stays here.
    """

    __tablename__ = "chat_state"

    telegram_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    language: str | None = Field(default=None, max_length=8)
    flow: str | None = Field(default=None, max_length=32)
    step: str | None = Field(default=None, max_length=32)
    # Changes with every question; buttons carry it, so only the latest question's work.
    nonce: str | None = Field(default=None, max_length=8)
    draft: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Webhook mode: the newest update whose effects this person's data already holds. An
    # update processed again after its replica died is then recognised and not applied twice.
    last_update_id: int | None = Field(default=None, sa_type=BigInteger)


class ScreenLink(SQLModel, table=True):
    """A venue screen's link: a capability for one event, until it ends or is revoked.

    The link itself is never stored: it is `<id>.<signature>`, the signature an HMAC (keyed by
    a secret derived from the bot token) of the id, the event and this row's random nonce, so
    the bot can show the same link again, and a copy of the database alone forges none.
    """

    __tablename__ = "screen_link"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    nonce: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebLogin(SQLModel, table=True):
    """A one-time link that opens the dashboard on a laptop (signed like a screen link)."""

    __tablename__ = "web_login"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    event_id: int = Field(foreign_key="event.id")
    nonce: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebAction(SQLModel, table=True):
    """An action taken from the dashboard, by its one-time request id: a replay finds it here
    and changes nothing. Kept only as long as the credential that carried it could be valid."""

    __tablename__ = "web_action"

    request_id: str = Field(primary_key=True, max_length=64)
    telegram_id: int = Field(sa_type=BigInteger)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class InboxStatus(StrEnum):
    """Where an update received by webhook is."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"


class InboxUpdate(SQLModel, table=True):
    """An update Telegram delivered by webhook, written down before Telegram got its 200.

    Whichever replica received it, any replica processes it; one person's updates one at a
    time, in update_id order (only the oldest unfinished update of a person can be claimed).
    A copy Telegram sends again, or that reaches two replicas, finds its row and is dropped.
    Done rows are kept a day, to recognise late copies, then purged.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_person_update", "person_key", "update_id"),
        Index("ix_inbox_status_update", "status", "update_id"),
    )

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    # The sender (or the chat for anonymous updates); 0 when neither can be read.
    person_key: int = Field(sa_type=BigInteger)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=InboxStatus.PENDING, max_length=16)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    received_by: str | None = Field(default=None, max_length=64)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
