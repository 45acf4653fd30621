"""Different people run concurrently; one person's updates stay in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from bot.update_processor import PerPersonUpdateProcessor, ordering_key

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def update_from(user_id: int, update_id: int) -> Update:
    user = User(id=user_id, first_name="P", is_bot=False)
    chat = Chat(id=user_id, type="private")
    message = Message(message_id=update_id, date=None, chat=chat, from_user=user, text="x")  # type: ignore[arg-type]
    return Update(update_id=update_id, message=message)


async def test_one_slow_person_does_not_hold_up_another() -> None:
    processor = PerPersonUpdateProcessor(8)
    slow_may_finish = asyncio.Event()
    finished: list[str] = []

    async def slow() -> None:
        await slow_may_finish.wait()
        finished.append("slow")

    async def quick() -> None:
        finished.append("quick")
        slow_may_finish.set()

    await asyncio.gather(
        processor.process_update(update_from(1, 1), slow()),
        processor.process_update(update_from(2, 2), quick()),
    )
    assert finished == ["quick", "slow"]


async def test_one_person_is_processed_in_order() -> None:
    processor = PerPersonUpdateProcessor(8)
    first_started = asyncio.Event()
    release_first = asyncio.Event()
    order: list[int] = []

    async def first() -> None:
        first_started.set()
        await release_first.wait()
        order.append(1)

    async def second() -> None:
        order.append(2)

    task_one = asyncio.create_task(processor.process_update(update_from(7, 1), first()))
    await first_started.wait()
    task_two = asyncio.create_task(processor.process_update(update_from(7, 2), second()))
    await asyncio.sleep(0)  # let the second update reach the lock
    assert order == []
    release_first.set()
    await asyncio.gather(task_one, task_two)
    assert order == [1, 2]


async def test_a_persons_lock_is_dropped_once_their_updates_are_done() -> None:
    processor = PerPersonUpdateProcessor(4)
    done: list[int] = []

    async def note(update_id: int) -> None:
        done.append(update_id)

    for update_id in range(3):
        await processor.process_update(update_from(5, update_id), note(update_id))
    assert done == [0, 1, 2]
    assert processor.people_waiting == 0


def test_ordering_key_prefers_the_user() -> None:
    assert ordering_key(update_from(9, 1)) == 9
    assert ordering_key(object()) is None


async def test_one_persons_queue_never_takes_every_slot() -> None:
    """The person's lock comes before a slot: their waiting updates hold no slot."""
    processor = PerPersonUpdateProcessor(2)
    release = asyncio.Event()
    started: list[int] = []

    async def slow(n: int) -> None:
        started.append(n)
        await release.wait()

    async def other() -> None:
        started.append(99)

    flood = [
        asyncio.create_task(processor.process_update(update_from(1, n), slow(n))) for n in range(6)
    ]
    neighbour = asyncio.create_task(processor.process_update(update_from(2, 100), other()))
    # The neighbour finishes while the first person's first update still holds its slot:
    # only one of the two slots was ever taken by that person.
    await asyncio.wait_for(neighbour, timeout=5)
    assert started == [0, 99]
    release.set()
    await asyncio.gather(*flood)
    assert started == [0, 99, 1, 2, 3, 4, 5]


async def test_a_flooder_is_dropped_before_waiting_for_anything() -> None:
    """Over the limit, updates are dropped at once: never queued behind the person's lock."""
    from datetime import timedelta

    from bot.clock import FakeClock
    from bot.flood import FloodGate

    clock = FakeClock(T0)
    gate = FloodGate(max_updates=2, window=timedelta(seconds=10), mute=timedelta(seconds=30))
    processor = PerPersonUpdateProcessor(4, flood=gate, clock=clock)
    release, first_in = asyncio.Event(), asyncio.Event()
    ran: list[int] = []

    async def held(n: int) -> None:
        ran.append(n)
        first_in.set()
        await release.wait()

    first = asyncio.create_task(processor.process_update(update_from(3, 1), held(1)))
    await asyncio.wait_for(first_in.wait(), timeout=5)
    # While the first update holds the lock, the third and later return immediately.
    waiting = asyncio.create_task(processor.process_update(update_from(3, 2), held(2)))
    warned = asyncio.create_task(processor.process_update(update_from(3, 3), held(3)))
    for n in range(4, 10):
        await asyncio.wait_for(processor.process_update(update_from(3, n), held(n)), timeout=1)
    assert processor.dropped == 6
    assert processor.take_warning(3)
    assert not processor.take_warning(3)
    release.set()
    await asyncio.gather(first, waiting, warned)
    assert ran == [1, 2, 3]
