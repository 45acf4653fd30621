"""The bench stops when asked, even if one cancellation is lost on the way."""

from __future__ import annotations

import asyncio

import pytest

from bench import lifecycle


async def test_a_swallowed_cancellation_is_sent_again_until_the_task_stops() -> None:
    """Python 3.11's asyncio.timeout can lose a cancel() that meets its own timeout; the bench
    then ran to its end after a Ctrl-C. A stop request cancels again until the task is done."""
    swallowed = asyncio.Event()

    async def loses_the_first_cancel() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed.set()  # as the 3.11 race does: carry on as if nothing happened
        await asyncio.sleep(60)

    task = asyncio.create_task(loses_the_first_cancel())
    await asyncio.sleep(0)
    lifecycle.cancel_until_done(task)
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await task
    assert swallowed.is_set()
    assert task.cancelled()
