"""In groups and channels the bot says nothing at all, to anyone, whatever is sent there.

Personal data must never reach a shared chat: not even an admin's /roles or a person's /mydata.
"""

from __future__ import annotations

from typing import Any

from storage.models import Role
from tests.e2e.test_admin_support import (
    access_of,
    audit_entries,
    command_texts,
    register,
    running_world,
)
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.people import post_message

# Every command of the registry, bare and with arguments, and texts a person might type.
GROUP_TEXTS = (
    *(text for _, text in command_texts()),
    "/grant admin @somchai_v",
    "/grant coordinator 3 @somchai_v",
    "/revoke admin @anong_admin",
    "/checkin_for 0812345678",
    "0812345678",
    "สวัสดีครับ",
)


def calls_to(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """Every API method the bot called for a chat (messages, edits, actions, menus...)."""
    found = []
    for call in telegram.calls:
        params: dict[str, Any] = call.params
        scope = params.get("scope")
        scoped_chat = scope.get("chat_id") if isinstance(scope, dict) else None
        if chat_id in (params.get("chat_id"), scoped_chat):
            found.append(call.method)
    return found


async def test_groups_and_channels_get_no_reply_and_no_personal_data(
    telegram: FakeTelegram, database_url: str
) -> None:
    async with running_world(telegram, database_url) as world:
        admin = world.admin
        await register(world, admin, full_name="อนงค์ ผู้ดูแล", phone="+66811111111")
        somchai = telegram.person(first_name="Somchai", username="somchai_v")
        person = await register(world, somchai, full_name="สมชาย ใจดี", phone="+66812345678")
        group = telegram.group("อาสาสมัครแรงงาน โซน 3")
        supergroup = telegram.group("ประชาสัมพันธ์")
        supergroup.chat["type"] = "supergroup"
        channel = telegram.channel("ข่าวอาสา")

        for sender in (admin, somchai):
            for text in GROUP_TEXTS:
                await group.send(sender, text)
                await supergroup.send(sender, text)
            for content in (
                {"contact": {"phone_number": "+66812345678", "first_name": "Somchai"}},
                {"location": {"latitude": 13.72, "longitude": 100.58}},
            ):
                post_message(telegram.world, chat=group.chat, sender=sender.user, content=content)
            # A button press on a group message, as a forged client could send it.
            telegram.world.updates.push(
                "callback_query",
                {
                    "id": f"forged-{sender.user_id}",
                    "from": sender.user,
                    "chat_instance": "group",
                    "data": "lang:en",
                    "message": {
                        "message_id": 1,
                        "chat": group.chat,
                        "date": telegram.world.now(),
                        "text": "?",
                    },
                },
            )
        for text in GROUP_TEXTS:
            await channel.post(text)

        # Each person's updates are handled in order, so a private reply proves the group
        # ones before it were handled (and answered nothing).
        for sender in (admin, somchai):
            await sender.send("/help")
            await sender.wait_for(lambda m: (m.text or "").startswith("คำสั่งที่ใช้ได้"))
        await world.bot.settle()

        for chat in (group, supergroup, channel):
            assert chat.messages == []
            assert calls_to(telegram, chat.chat_id) == []
        assert (await access_of(world, person)).roles == frozenset()
        assert Role.ADMIN not in (await access_of(world, person)).roles
        assert await audit_entries(world) == []
        # Only the two private chats heard from the bot.
        spoken_to = {m.chat_id for m in telegram.sent}
        assert spoken_to <= {admin.chat_id, somchai.chat_id}
