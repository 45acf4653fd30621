"""The /newevent draft survives its trip through the chat_state row (JSON) unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from bot.handlers.events import EDIT_EVENT, NEW_EVENT, EventDraft, fields_of
from bot.scope import FlowState

BANGKOK = timezone(timedelta(hours=7))


def round_trip(draft: EventDraft) -> EventDraft:
    """Dump the draft as the row stores it (JSON text), then read it back as a run would."""
    stored = json.loads(json.dumps(NEW_EVENT.dump(draft)))
    state = FlowState(
        name=NEW_EVENT.name,
        step="confirm",
        nonce="abcd",
        draft=stored,
        updated_at=datetime.now(UTC),
    )
    run = NEW_EVENT.resume(state)
    assert run is not None
    return run.draft


def test_times_come_back_as_the_same_aware_moments() -> None:
    draft = EventDraft(
        event_id=12,
        title="สัมมนา",
        venue="กระทรวงแรงงาน",
        starts_at=datetime(2020, 7, 22, 12, 0, tzinfo=BANGKOK),
        ends_at=datetime(2020, 7, 22, 9, 0, tzinfo=UTC),
        latitude=13.7567,
        longitude=100.5018,
        radius_m=350,
        capacity=40,
        editing="start",
    )
    stored = NEW_EVENT.dump(draft)
    assert isinstance(stored["starts_at"], str)  # ISO text in the row, not a datetime object
    back = round_trip(draft)
    assert back.starts_at == draft.starts_at
    assert back.ends_at == draft.ends_at
    assert back.starts_at is not None
    assert back.starts_at.utcoffset() == timedelta(hours=7)
    assert (back.event_id, back.radius_m, back.capacity, back.editing) == (12, 350, 40, "start")
    fields = fields_of(back)
    assert fields is not None
    assert fields.starts_at == datetime(2020, 7, 22, 5, 0, tzinfo=UTC)
    assert fields.starts_at.tzinfo is UTC


def test_an_unfinished_draft_has_no_fields_yet() -> None:
    back = round_trip(EventDraft(title="สัมมนา"))
    assert back.starts_at is None
    assert fields_of(back) is None


def test_a_draft_that_no_longer_fits_is_dropped() -> None:
    state = FlowState(
        name=EDIT_EVENT.name,
        step="confirm",
        nonce="abcd",
        draft={"starts_at": "next Tuesday"},
        updated_at=datetime.now(UTC),
    )
    assert EDIT_EVENT.resume(state) is None
