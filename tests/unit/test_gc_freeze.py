"""What the bot builds to start is frozen out of the garbage collector before the first update,
so a full collection on a running bot scans only what updates allocate (README, Performance:
such collections paused every update for 35-150 ms before)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import app

PROBE = """
import gc
from bot import app
before = gc.get_freeze_count()
app.freeze_startup_objects()
print(before, gc.get_freeze_count())
"""


def test_the_startup_objects_are_frozen_in_a_fresh_process() -> None:
    # A process of its own: freezing is for the whole process, and the test runner's own
    # objects must stay collectable.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    before, after = (int(value) for value in done.stdout.split())
    assert before == 0
    # The modules, mappers, handlers and translations: tens of thousands of objects.
    assert after > 50_000


async def test_serve_freezes_before_it_starts_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    class Stop(Exception):
        pass

    def freeze() -> None:
        order.append("freeze")
        raise Stop  # the rest of serve (the web side, the bot) must not have begun

    monkeypatch.setattr(app, "freeze_startup_objects", freeze)
    with pytest.raises(Stop):
        await app.serve(object())  # type: ignore[arg-type]
    assert order == ["freeze"]
