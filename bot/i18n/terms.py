"""The one translation key of each thing people are sorted by (see terms.po, and the term
table in CONTRIBUTING.md). Every screen, export and summary names them through these, so a
participant type or a role reads the same everywhere."""

from __future__ import annotations

from storage.models import Agency, ParticipantType, Role, VolunteerRole

GROUPS = ("volunteers", "officials", "others")


def participant_type(value: str | ParticipantType) -> str:
    """Labour volunteer, official of a ministry agency, speaker, civil servant, staff..."""
    return f"term.type.{ParticipantType(value).value}"


def agency(value: str | Agency) -> str:
    """One of the ministry's five agencies."""
    return f"term.agency.{Agency(value).value}"


def volunteer_role(value: str | VolunteerRole) -> str:
    """A labour volunteer's role in the network (zone chair, taxi-network coordinator...)."""
    return f"term.role.{VolunteerRole(value).value}"


def group(name: str) -> str:
    """One of the three attendee groups of the ministry's reports."""
    if name not in GROUPS:
        raise ValueError(f"unknown attendee group {name!r}")
    return f"term.group.{name}"


def access_role(value: str | Role) -> str:
    """A role in the bot (admin, organiser, zone coordinator, staff)."""
    return f"term.access.{Role(value).value}"


def all_keys() -> list[str]:
    """Every term key, for the translation tests."""
    return (
        [participant_type(v) for v in ParticipantType]
        + [agency(v) for v in Agency]
        + [volunteer_role(v) for v in VolunteerRole]
        + [group(name) for name in GROUPS]
        + [access_role(v) for v in Role]
    )
