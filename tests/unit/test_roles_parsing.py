"""How /grant and /revoke read their arguments."""

from __future__ import annotations

import pytest

from bot.handlers.admin import GRANT, REVOKE, Draft, parse_arguments
from storage.models import Role


@pytest.mark.parametrize(
    ("args", "role", "zones", "phone", "username"),
    [
        ("coordinator 3 4 @someone", Role.COORDINATOR, (3, 4), None, "@someone"),
        ("coordinator 3,4 081 234 5678", Role.COORDINATOR, (3, 4), "+66812345678", None),
        ("staff 02 123 4567", Role.STAFF, (), "+6621234567", None),
        ("Organizer +66812345678", Role.ORGANISER, (), "+66812345678", None),
        ("ผู้ประสานงาน 4 @somchai_v", Role.COORDINATOR, (4,), None, "@somchai_v"),
        ("@someone admin", Role.ADMIN, (), None, "@someone"),
        ("", None, (), None, None),
    ],
)
def test_arguments_in_any_reasonable_form(
    args: str, role: Role | None, zones: tuple[int, ...], phone: str | None, username: str | None
) -> None:
    draft = parse_arguments(GRANT, args.split())
    assert (draft.role, draft.zones, draft.phone, draft.username) == (role, zones, phone, username)
    assert not draft.unreadable_person


@pytest.mark.parametrize(
    "args", ["staff 12345", "staff '; DROP TABLE person; --", "staff " + "9" * 500]
)
def test_an_unreadable_person_is_flagged_not_guessed(args: str) -> None:
    draft = parse_arguments(REVOKE, args.split())
    assert draft.role == Role.STAFF
    assert draft.unreadable_person
    assert not draft.has_person


def test_a_draft_survives_the_trip_through_user_data() -> None:
    draft = parse_arguments(GRANT, ["coordinator", "3", "@someone"])
    assert Draft.from_plain(draft.to_plain()) == draft
    assert Draft.from_plain({"action": "nonsense"}) is None
    assert Draft.from_plain({"action": GRANT, "role": "emperor", "zones": "3"}) == Draft(GRANT)
