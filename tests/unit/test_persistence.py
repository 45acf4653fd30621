"""Our SQL persistence round-trips user data and conversation states."""

from __future__ import annotations

from storage.database import create_engine, session_factory
from storage.persistence import SqlPersistence


async def test_user_data_and_conversations_survive_a_new_persistence(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        first = SqlPersistence(session_factory(engine))
        await first.update_user_data(111, {"lang": "en", "draft": {"name": "สมชาย"}})
        await first.update_conversation("registration", (111, 111), "asking_name")
        await first.update_conversation("registration", (222, 222), "asking_phone")
        await first.update_conversation("registration", (222, 222), None)
        await first.update_chat_data(111, {"seen": True})

        second = SqlPersistence(session_factory(engine))
        user_data = await second.get_user_data()
        assert user_data[111] == {"lang": "en", "draft": {"name": "สมชาย"}}
        assert user_data[999] == {}
        assert await second.get_conversations("registration") == {(111, 111): "asking_name"}
        assert (await second.get_chat_data())[111] == {"seen": True}

        await second.drop_user_data(111)
        await second.drop_conversations_of(111)
        assert 111 not in await second.get_user_data()
        assert await second.get_conversations("registration") == {}
    finally:
        await engine.dispose()


async def test_unchanged_data_is_not_written_again(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        persistence = SqlPersistence(session_factory(engine))
        await persistence.update_user_data(5, {})  # nothing to store for a newcomer
        assert 5 not in await SqlPersistence(session_factory(engine)).get_user_data()
        await persistence.update_user_data(5, {"lang": "en"})
        # Another writer changes the row behind this persistence's back; an identical update
        # from this persistence is skipped, so the row keeps the other value.
        other = SqlPersistence(session_factory(engine))
        await other.update_user_data(5, {"lang": "th"})
        await persistence.update_user_data(5, {"lang": "en"})
        assert (await other.get_user_data())[5] == {"lang": "th"}
        await persistence.update_user_data(5, {"lang": "en", "x": 1})
        assert (await other.get_user_data())[5] == {"lang": "en", "x": 1}
    finally:
        await engine.dispose()
