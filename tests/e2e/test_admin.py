"""Admins grant and revoke roles through the bot, list them, and read the audit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.services.access import Capability
from storage.models import Person, Role, RoleGrant
from tests.e2e.test_admin_support import (
    World,
    access_of,
    audit_entries,
    give_role,
    menu_of,
    register,
    running_world,
    wait_until,
)
from tests.fake_telegram import FakeTelegram

NOT_ALLOWED_TH = "ท่านไม่มีสิทธิ์ทำรายการนี้"
STALE_TH = "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"


@pytest.fixture
async def world(telegram: FakeTelegram, database_url: str) -> AsyncIterator[World]:
    """The bot with one config admin."""
    async with running_world(telegram, database_url) as running:
        yield running


async def test_admin_grants_staff_by_phone_and_the_person_is_told(world: World) -> None:
    somchai = world.telegram.person(first_name="Somchai", username="somchai")
    person = await register(world, somchai, phone="+66812345678")

    await world.admin.send("/grant staff 081 234 5678")
    done = await world.admin.next_reply()
    assert done.text == "เรียบร้อย: สมชาย ใจดี (@somchai) #1 ได้รับบทบาทเจ้าหน้าที่แล้ว"
    told = await somchai.next_reply()
    assert "ผู้ดูแลระบบได้มอบบทบาทเจ้าหน้าที่ให้ท่านแล้ว" in (told.text or "")

    access = await access_of(world, person)
    assert access.roles == {Role.STAFF}
    [entry] = await audit_entries(world)
    assert (entry.action, entry.target_type, entry.target_id) == ("role.grant", "person", "1")
    assert entry.detail == {"role": "staff"}
    # The config admin never registered: the audit names no person for them.
    assert entry.actor_id is None
    assert menu_of(world.telegram, somchai) is not None
    assert "grant" not in (menu_of(world.telegram, somchai) or [])


async def test_coordinator_with_zones_by_username_in_english(world: World) -> None:
    malee = world.telegram.person(first_name="Malee", username="malee_k", language_code="en")
    person = await register(world, malee, full_name="Malee K", language="en")

    await world.admin.send("/grant coordinator 3 4 @Malee_K")
    done = await world.admin.next_reply()
    assert done.text == "เรียบร้อย: Malee K (@malee_k) #1 ได้รับบทบาทผู้ประสานงานโซนแล้ว (โซน 3, 4)"
    told = await malee.next_reply()
    assert told.text == (
        "An admin gave you the role of zone coordinator for zones 3, 4. "
        "Send /help to see what you can now do."
    )
    access = await access_of(world, person)
    assert access.zone_limit() == {3, 4}
    assert access.can(Capability.BROADCAST)

    await world.admin.send("/revoke coordinator 4 @malee_k")
    assert "โซน 3" in ((await world.admin.next_reply()).text or "")
    assert (await malee.next_reply()).text == (
        "An admin changed your zones: you now coordinate zones 3. "
        "Send /help to see what you can do."
    )
    assert (await access_of(world, person)).zone_limit() == {3}
    [grant, revoke] = await audit_entries(world)
    assert grant.detail == {"role": "coordinator", "zones": [3, 4]}
    assert revoke.detail == {"role": "coordinator", "zones": [4]}


async def test_grant_by_replying_to_a_forwarded_message(world: World) -> None:
    niran = world.telegram.person(first_name="Niran")
    person = await register(world, niran, full_name="นิรันดร์ มั่นคง")
    forwarded = await world.admin.forward_from(niran, "ขอสิทธิ์ผู้จัดงานครับ")
    # The forward itself gets the "not understood" fallback; the command replies to it.
    await world.admin.next_reply()
    await world.admin.send("/grant organiser", reply_to=forwarded)
    done = await world.admin.next_reply()
    assert "นิรันดร์ มั่นคง" in (done.text or "")
    assert (await access_of(world, person)).can(Capability.MANAGE_EVENTS)


async def test_guided_grant_with_buttons_then_a_forward(world: World) -> None:
    admin = world.admin
    dao = world.telegram.person(first_name="Dao")
    person = await register(world, dao, full_name="ดาว ประกาย")

    await admin.send("/grant")
    ask_role = await admin.next_reply()
    assert ask_role.text == "ต้องการมอบบทบาทใด"
    assert ask_role.button_texts == ["ผู้ดูแลระบบ", "ผู้จัดงาน", "ผู้ประสานงานโซน", "เจ้าหน้าที่"]

    # Bad input in the role step: a sticker and a long text get a reminder, with the buttons.
    await admin.send_sticker()
    reminder = await admin.next_reply()
    assert reminder.text == "กรุณาเลือกจากปุ่ม หรือพิมพ์ /cancel เพื่อยกเลิก"
    assert "ผู้ประสานงานโซน" in reminder.button_texts
    await admin.send("x" * 5000)
    assert (await admin.next_reply()).text == "กรุณาเลือกจากปุ่ม หรือพิมพ์ /cancel เพื่อยกเลิก"

    await admin.press("ผู้ประสานงานโซน", message=ask_role)
    await admin.wait_for_edit(ask_role)
    assert ask_role.text == "บทบาท: ผู้ประสานงานโซน"
    zones = await admin.next_reply()
    assert zones.button_texts == ["โซน 3", "โซน 4", "เสร็จสิ้น"]
    await admin.press("เสร็จสิ้น", message=zones)
    assert (await admin.wait_for_answer())["text"] == "ผู้ประสานงานต้องดูแลอย่างน้อยหนึ่งโซน"
    await admin.press("โซน 4", message=zones)
    await admin.wait_for_edit(zones)
    assert zones.button_texts == ["โซน 3", "✅ โซน 4", "เสร็จสิ้น"]
    # A forged zone (not a zone of this deployment) is refused politely and changes nothing.
    await admin.press_data("adm:z:999", message=zones)
    assert (await admin.wait_for_answer())["text"] == STALE_TH
    await admin.press("เสร็จสิ้น", message=zones)
    await admin.wait_for_edit(zones)
    assert zones.text == "โซน: 4"
    ask_person = await admin.next_reply()
    assert ask_person.text is not None
    assert ask_person.text.startswith("กรุณาระบุบุคคล")

    # /help in the middle of the flow works and the flow waits.
    await admin.send("/help")
    assert "/grant" in ((await admin.next_reply()).text or "")
    await admin.send("'; DROP TABLE person; --")
    assert ((await admin.next_reply()).text or "").startswith("ระบุตัวบุคคลไม่ได้")
    await admin.send("0899999999")
    assert ((await admin.next_reply()).text or "").startswith("ไม่พบผู้ลงทะเบียนที่ตรงกัน")

    await admin.forward_from(dao, "สวัสดีค่ะ")
    done = await admin.next_reply()
    assert done.text == "เรียบร้อย: ดาว ประกาย #1 ได้รับบทบาทผู้ประสานงานโซนแล้ว (โซน 4)"
    assert (await access_of(world, person)).zone_limit() == {4}

    # The old buttons are gone; replaying one (as a tampered client could) changes nothing.
    await admin.press_data("adm:r:admin", message=ask_role)
    assert (await admin.wait_for_answer())["text"] == STALE_TH
    assert (await access_of(world, person)).roles == {Role.COORDINATOR}


async def test_guided_flow_can_be_cancelled_and_survives_a_restart(world: World) -> None:
    admin = world.admin
    kanya = world.telegram.person(first_name="Kanya", username="kanya")
    person = await register(world, kanya)
    await admin.send("/revoke")
    ask_role = await admin.next_reply()
    assert ask_role.text == "ต้องการถอนบทบาทใด"
    await world.bot.restart()
    await admin.send("/cancel")
    assert (await admin.next_reply()).text == "ยกเลิกแล้ว ไม่มีการเปลี่ยนแปลงบทบาท"
    await admin.press("เจ้าหน้าที่", message=ask_role)
    assert (await admin.wait_for_answer())["text"] == STALE_TH

    await admin.send("/grant @kanya")
    ask_role = await admin.next_reply()
    await world.bot.restart()
    # The person named in the command was remembered across the restart.
    await admin.press("เจ้าหน้าที่", message=ask_role)
    done = await admin.wait_for(lambda m: (m.text or "").startswith("เรียบร้อย"))
    assert "เจ้าหน้าที่" in (done.text or "")
    assert (await access_of(world, person)).roles == {Role.STAFF}


async def test_refusals_are_explained_and_change_nothing(world: World) -> None:
    admin = world.admin
    admin_person = await register(world, admin, full_name="อนงค์ ผู้ดูแล")
    somsri = world.telegram.person(first_name="Somsri", username="somsri")
    await register(world, somsri, full_name="สมศรี ดีมาก")

    await admin.send("/revoke admin @anong_admin")
    assert (await admin.next_reply()).text == (
        "ผู้ดูแลระบบคนนี้กำหนดไว้ในไฟล์ตั้งค่าของบอท ต้องถอดถอนที่ไฟล์ตั้งค่าเท่านั้น"
    )
    await admin.send("/revoke staff @somsri")
    assert (await admin.next_reply()).text == "บุคคลนี้ไม่ได้มีบทบาท (หรือโซน) นี้ ไม่มีการเปลี่ยนแปลง"
    await admin.send("/grant staff 3 @somsri")
    assert (await admin.next_reply()).text == (
        "เฉพาะผู้ประสานงานเท่านั้นที่มีโซน กรุณาไม่ต้องระบุหมายเลขโซนสำหรับบทบาทนี้"
    )
    await admin.send("/grant coordinator 9 @somsri")
    assert (await admin.next_reply()).text == "ไม่มีโซน 9"
    await admin.send("/grant staff @somsri")
    await admin.next_reply()
    await somsri.next_reply()
    await admin.send("/grant staff @somsri")
    assert (await admin.next_reply()).text == "บุคคลนี้มีบทบาทนี้ (และโซนดังกล่าว) อยู่แล้ว ไม่มีการเปลี่ยนแปลง"
    assert [e.action for e in await audit_entries(world)] == ["role.grant"]
    assert (await access_of(world, admin_person)).roles == {Role.ADMIN}


async def test_hidden_forward_asks_for_a_phone_number(world: World) -> None:
    admin = world.admin
    hidden = world.telegram.person(first_name="Hidden")
    await register(world, hidden)
    await admin.send("/grant staff")
    assert ((await admin.next_reply()).text or "").startswith("กรุณาระบุบุคคล")
    await admin.forward_from(hidden, hidden=True)
    assert ((await admin.next_reply()).text or "").startswith("บุคคลนี้ซ่อนบัญชี")
    assert await audit_entries(world) == []


@pytest.mark.parametrize("role", [None, Role.ORGANISER, Role.COORDINATOR, Role.STAFF])
async def test_only_admins_reach_the_admin_commands(world: World, role: Role | None) -> None:
    someone = world.telegram.person(first_name="Prasert", username="prasert")
    person = await register(world, someone)
    if role is not None:
        await give_role(world, person, role, zones=(3,) if role == Role.COORDINATOR else ())
    for command in (
        "/grant admin @prasert",
        "/grant",
        "/revoke staff @prasert",
        "/roles",
        "/audit",
    ):
        await someone.send(command)
        assert (await someone.next_reply()).text == NOT_ALLOWED_TH
    # A forged role button, as a tampered client could send it.
    await someone.press_data("adm:r:admin")
    assert (await someone.wait_for_answer())["text"] in (NOT_ALLOWED_TH, STALE_TH)
    assert (await access_of(world, person)).roles == ({role} if role else set())
    assert await audit_entries(world) == []


async def test_a_revoked_admin_loses_their_buttons_mid_flow(world: World) -> None:
    deputy = world.telegram.person(first_name="Deputy", username="deputy")
    deputy_person = await register(world, deputy)
    target = world.telegram.person(first_name="Target", username="target")
    target_person = await register(world, target)
    await give_role(world, deputy_person, Role.ADMIN)

    await deputy.send("/grant @target")
    ask_role = await deputy.next_reply()
    await world.admin.send("/revoke admin @deputy")
    assert ((await world.admin.next_reply()).text or "").startswith("เรียบร้อย")
    await deputy.press("ผู้ดูแลระบบ", message=ask_role)
    answer = await deputy.wait_for_answer()
    assert answer["text"] == NOT_ALLOWED_TH
    assert (await access_of(world, target_person)).roles == frozenset()


async def test_roles_lists_everyone_with_a_role(world: World) -> None:
    admin = world.admin
    somchai = world.telegram.person(first_name="Somchai", username="somchai")
    somchai_person = await register(world, somchai, full_name="สมชาย ใจดี")
    await give_role(world, somchai_person, Role.COORDINATOR, zones=(3, 4))
    await admin.send("/roles")
    listing = await admin.next_reply()
    assert listing.text == (
        "รายชื่อผู้มีบทบาท\n"
        f"• บัญชีเทเลแกรม {admin.user_id} (ยังไม่ลงทะเบียน): ผู้ดูแลระบบ [ไฟล์ตั้งค่า]\n"
        "• สมชาย ใจดี (@somchai) #1: ผู้ประสานงานโซน (โซน 3, 4)"
    )


async def test_audit_shows_the_latest_entries_in_bangkok_time(world: World) -> None:
    admin = world.admin
    admin_person = await register(world, admin, full_name="อนงค์ ผู้ดูแล")
    people = []
    for n in range(3):
        chatter = world.telegram.person(first_name=f"P{n}", username=f"person{n}")
        people.append(await register(world, chatter, full_name=f"คนที่ {n}"))
        await admin.send(f"/grant staff @person{n}")
        await admin.next_reply()
    await admin.send("/audit 2")
    shown = await admin.next_reply()
    lines = (shown.text or "").split("\n")
    assert lines[0] == "การดำเนินการสำคัญล่าสุด (2 รายการ) เรียงจากใหม่ไปเก่า ระบุบุคคลด้วยเลขทะเบียน"
    assert len(lines) == 3
    assert f"#{admin_person.id} · มอบบทบาท · person #{people[2].id} · เจ้าหน้าที่" in lines[1]
    assert " น." in lines[1]  # a Thai time, e.g. "24 พ.ย. 69 16.05 น."
    # Names and phone numbers never appear in the audit view.
    assert "คนที่" not in (shown.text or "")
    await admin.send("/audit lots")
    assert (await admin.next_reply()).text == (
        "พิมพ์ /audit หรือ /audit ตามด้วยจำนวนรายการที่ต้องการดู (1 ถึง 30)"
    )


async def test_menus_follow_roles(world: World) -> None:
    admin = world.admin
    # At start-up: a default menu for everyone, and the config admin's own menu.
    default = world.telegram.commands_for()
    assert default is not None
    assert "grant" not in [c["command"] for c in default]
    assert "grant" in (menu_of(world.telegram, admin) or [])

    lek = world.telegram.person(first_name="Lek", username="lek")
    await register(world, lek)
    await admin.send("/grant admin @lek")
    await admin.next_reply()
    await lek.next_reply()
    assert {"grant", "revoke", "roles", "audit"} <= set(menu_of(world.telegram, lek) or [])
    await lek.send("/help")
    assert "/audit" in ((await lek.next_reply()).text or "")

    # At the next start-up every role holder's menu is set again from the database.
    world.telegram.world.commands.clear()
    await world.bot.restart()
    assert "audit" in (menu_of(world.telegram, lek) or [])

    await admin.send("/revoke admin @lek")
    await admin.next_reply()
    await lek.next_reply()
    assert "grant" not in (menu_of(world.telegram, lek) or [])
    await lek.send("/help")
    assert "/audit" not in ((await lek.next_reply()).text or "")


async def test_a_long_role_list_is_split_under_telegrams_limit(world: World) -> None:
    async with world.sessions() as session:
        people = [
            Person(telegram_id=5_000_000 + n, full_name=f"อาสาสมัคร คนที่ {n:03d} " + "ก" * 60)
            for n in range(150)
        ]
        session.add_all(people)
        await session.commit()
        session.add_all(RoleGrant(person_id=p.id or 0, role=Role.STAFF.value) for p in people)
        await session.commit()
    await world.admin.send("/roles")
    await world.bot.settle()
    chunks = [m.text or "" for m in world.admin.messages]
    assert len(chunks) > 1
    assert all(len(chunk) <= 4096 for chunk in chunks)
    listed = "\n".join(chunks)
    assert all(f"คนที่ {n:03d}" in listed for n in range(150))


async def test_a_language_change_redoes_the_persons_own_menu(world: World) -> None:
    admin = world.admin
    before = world.telegram.commands_for({"type": "chat", "chat_id": admin.chat_id})
    assert before is not None
    await admin.send("/lang")
    await admin.press("English", message=await admin.next_reply())
    await admin.wait_for_answer()

    def english_menu() -> bool:
        menu = world.telegram.commands_for({"type": "chat", "chat_id": admin.chat_id}) or []
        return menu != before and {"grant", "audit"} <= {c["command"] for c in menu}

    await wait_until(english_menu)
    menu = world.telegram.commands_for({"type": "chat", "chat_id": admin.chat_id}) or []
    descriptions = {c["command"]: c["description"] for c in menu}
    assert descriptions["help"].isascii()
