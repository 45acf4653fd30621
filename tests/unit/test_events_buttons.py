"""Card buttons: what `ev:...` callback data may say, bounded before anything reads it."""

from __future__ import annotations

import pytest

from bot.handlers.events import parse_button
from bot.services.events import Switch
from bot.usecases.events import Action, Press


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("ev:reg:12", Press(Action.SIGN_UP, 12)),
        ("ev:unreg:12", Press(Action.WITHDRAW, 12)),
        ("ev:autoon:7", Press(Action.SWITCH, 7, switch=Switch.AUTO_ON)),
        ("ev:close:7", Press(Action.SWITCH, 7, switch=Switch.CLOSE)),
        ("ev:rotyes:7:123456789", Press(Action.ROTATE, 7, version=123456789)),
        ("ev:cancelyes:3", Press(Action.CANCEL, 3)),
        ("ev:edit:3", Press(Action.EDIT, 3)),
    ],
)
def test_buttons_the_cards_make(data: str, expected: Press) -> None:
    assert parse_button(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        "ev:reg:99999999999999999999",  # beyond any id the database can hold
        "ev:reg:2147483648",
        "ev:reg:-1",
        "ev:reg:１２",  # digits, but not ASCII ones
        "ev:reg:",
        "ev:reg:1:2",
        "ev:switch:1",  # the action family, not a switch
        "ev:auto:1",  # the old toggle: it named no state, so it is stale now
        "ev:rotyes:1",
        "ev:rotyes:1:2:3",
        "ev:rotyes:1:99999999999",
        "ev:nothing:1",
        "ev:",
    ],
)
def test_anything_else_is_no_button(data: str) -> None:
    assert parse_button(data) is None
