"""How /grant and /revoke read their arguments, and how their flow keeps its draft."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.handlers.admin import GRANT_FLOW, REVOKE_FLOW, RoleDraft, parse_arguments
from bot.scope import FlowState
from bot.services.roles import RoleAction
from storage.models import Role


@pytest.mark.parametrize(
    ("args", "role", "zones", "phone", "username"),
    [
        ("coordinator 3 4 @someone", Role.COORDINATOR, [3, 4], None, "@someone"),
        ("coordinator 3,4 081 234 5678", Role.COORDINATOR, [3, 4], "+66812345678", None),
        ("coordinator 4 3 3", Role.COORDINATOR, [3, 4], None, None),
        ("staff 02 123 4567", Role.STAFF, [], "+6621234567", None),
        ("Organizer +66812345678", Role.ORGANISER, [], "+66812345678", None),
        ("ผู้ประสานงาน 4 @somchai_v", Role.COORDINATOR, [4], None, "@somchai_v"),
        ("ผู้ประสานงานโซน 4 @somchai_v", Role.COORDINATOR, [4], None, "@somchai_v"),
        ("ทีมงาน 081-234-5678", Role.STAFF, [], "+66812345678", None),
        ("@someone admin", Role.ADMIN, [], None, "@someone"),
        ("", None, [], None, None),
    ],
)
def test_arguments_in_any_reasonable_form(
    args: str, role: Role | None, zones: list[int], phone: str | None, username: str | None
) -> None:
    parsed = parse_arguments(RoleAction.GRANT, args.split())
    draft = parsed.draft
    assert (draft.role, draft.zones, draft.phone, draft.username) == (role, zones, phone, username)
    assert not parsed.unreadable_person


@pytest.mark.parametrize(
    "args", ["staff 12345", "staff '; DROP TABLE person; --", "staff " + "9" * 500]
)
def test_an_unreadable_person_is_flagged_not_guessed(args: str) -> None:
    parsed = parse_arguments(RoleAction.REVOKE, args.split())
    assert parsed.draft.role == Role.STAFF
    assert parsed.unreadable_person
    assert not parsed.draft.has_person


def state(flow: str, draft: dict[str, object]) -> FlowState:
    """A chat_state row as the scope reads it."""
    return FlowState(
        name=flow, step="zones", nonce="abcd", draft=draft, updated_at=datetime.now(UTC)
    )


def test_a_draft_survives_the_trip_through_its_row() -> None:
    draft = parse_arguments(RoleAction.GRANT, ["coordinator", "3", "@someone"]).draft
    stored = GRANT_FLOW.dump(draft)
    assert stored == {
        "action": "grant",
        "role": "coordinator",
        "zones": [3],
        "telegram_id": None,
        "phone": None,
        "username": "@someone",
    }
    run = GRANT_FLOW.resume(state("grant", stored))
    assert run is not None
    assert run.draft == draft
    assert (run.step, run.nonce) == ("zones", "abcd")
    assert REVOKE_FLOW.resume(state("revoke", {"action": "revoke"})) is not None


@pytest.mark.parametrize(
    "stored",
    [
        {"action": "nonsense"},
        {"action": "grant", "role": "emperor"},
        {"action": "grant", "zones": "3"},
        {"action": "grant", "telegram_id": "not a number"},
    ],
)
def test_a_row_that_no_longer_fits_is_dropped_not_guessed(stored: dict[str, object]) -> None:
    assert GRANT_FLOW.resume(state("grant", stored)) is None


def test_a_coordinator_grant_without_zones_asks_for_them() -> None:
    assert RoleDraft(RoleAction.GRANT, Role.COORDINATOR).wants_zones
    assert not RoleDraft(RoleAction.GRANT, Role.COORDINATOR, zones=[3]).wants_zones
    assert not RoleDraft(RoleAction.REVOKE, Role.COORDINATOR).wants_zones
    assert not RoleDraft(RoleAction.GRANT, Role.STAFF).wants_zones
