"""Different people run concurrently; one person's updates stay in order."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from bot.update_processor import PerPersonUpdateProcessor, ordering_key


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


async def test_state_is_saved_after_every_update_and_locks_are_dropped() -> None:
    saves: list[int] = []

    async def save() -> None:
        saves.append(1)

    processor = PerPersonUpdateProcessor(4, after_update=save)

    async def nothing() -> None:
        return None

    for update_id in range(3):
        await processor.process_update(update_from(5, update_id), nothing())
    assert len(saves) == 3
    assert processor._locks == {}


def test_ordering_key_prefers_the_user() -> None:
    assert ordering_key(update_from(9, 1)) == 9
    assert ordering_key(object()) is None
