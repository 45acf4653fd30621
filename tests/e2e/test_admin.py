"""Admins grant and revoke roles through the bot, list them, and read the audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from bot.services.access import Capability
from storage.models import (
    Announcement,
    AnnouncementKind,
    ChatState,
    Delivery,
    Person,
    Role,
    RoleGrant,
)
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
from tests.fake_telegram import FakeTelegram, SentMessage

NOT_ALLOWED_TH = "ท่านไม่มีสิทธิ์ทำรายการนี้"
STALE_TH = "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
USE_BUTTONS_TH = "กรุณาเลือกจากปุ่ม หรือพิมพ์ /cancel เพื่อยกเลิก"
ASK_ROLE_TH = "ต้องการมอบบทบาทใด"
ROLES_TH = ["ผู้ดูแลระบบ", "ผู้จัดงาน", "ผู้ประสานงานโซน", "ทีมงาน"]


@pytest.fixture
async def world(telegram: FakeTelegram, database_url: str) -> AsyncIterator[World]:
    """The bot with one config admin, who types faster than flood control allows."""
    async with running_world(telegram, database_url, flood_max_updates=1000) as running:
        yield running


def data_of(message: SentMessage, text: str) -> str:
    """The callback data of the button showing `text`."""
    found = [data for row in message.buttons for label, data in row if label == text]
    assert len(found) == 1, message.summary()
    assert found[0] is not None
    return found[0]


async def notices_to(world: World, person: Person) -> list[str]:
    """The templates of the notices queued in the outbox for a person."""
    async with world.sessions() as session:
        rows = await session.exec(
            select(Announcement.template)
            .join(Delivery, col(Delivery.announcement_id) == col(Announcement.id))
            .where(
                col(Delivery.person_id) == person.id,
                col(Announcement.kind) == AnnouncementKind.NOTICE,
            )
            .order_by(col(Announcement.id))
        )
        return [template or "" for template in rows.all()]


async def test_admin_grants_staff_by_phone_and_the_person_is_told(world: World) -> None:
    somchai = world.telegram.person(first_name="Somchai", username="somchai")
    person = await register(world, somchai, phone="+66812345678")

    await world.admin.send("/grant staff 081 234 5678")
    done = await world.admin.next_reply()
    assert done.text == "เรียบร้อย: สมชาย ใจดี (@somchai) #1 ได้รับบทบาททีมงานแล้ว"
    told = await somchai.next_reply()
    assert told.text == "ผู้ดูแลระบบได้มอบบทบาททีมงานให้ท่านแล้ว พิมพ์ /help เพื่อดูสิ่งที่ทำได้"
    # The notice went through the outbox (durable, paced, retried), not straight from the handler.
    assert await notices_to(world, person) == ["admin.you_were_granted"]

    access = await access_of(world, person)
    assert access.roles == {Role.STAFF}
    [entry] = await audit_entries(world)
    assert (entry.action, entry.target_type, entry.target_id) == ("role.grant", "person", "1")
    assert entry.detail == {"role": "staff"}
    # The config admin never registered: the audit names no person for them.
    assert entry.actor_id is None
    # Their command menu follows the new role.
    assert {"checkin_for", "walkin"} <= set(menu_of(world.telegram, somchai) or [])
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

    await world.admin.send("/revoke coordinator @malee_k")
    assert ((await world.admin.next_reply()).text or "").startswith("เรียบร้อย")
    assert (await malee.next_reply()).text == (
        "An admin changed your role: zone coordinator was taken away. "
        "Send /help to see what you can do."
    )
    assert (await access_of(world, person)).roles == frozenset()
    assert "broadcast" not in (menu_of(world.telegram, malee) or [])


async def test_grant_by_replying_to_a_forwarded_message(world: World) -> None:
    niran = world.telegram.person(first_name="Niran")
    person = await register(world, niran, full_name="นิรันดร์ มั่นคง")
    forwarded = await world.admin.forward_from(niran, "ขอสิทธิ์ผู้จัดงาน")
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
    first_question = await admin.next_reply()
    assert first_question.text == ASK_ROLE_TH
    assert first_question.button_texts == ROLES_TH

    # Bad input in the role step: a sticker and a long text get a hint, then the question again.
    await admin.send_sticker()
    hint, ask_role = await admin.replies(2)
    assert hint.text == USE_BUTTONS_TH
    assert (ask_role.text, ask_role.button_texts) == (ASK_ROLE_TH, ROLES_TH)
    await admin.send("x" * 5000)
    hint, ask_role = await admin.replies(2)
    assert (hint.text, ask_role.text) == (USE_BUTTONS_TH, ASK_ROLE_TH)
    # Every copy is the same question, with the same buttons, until it is answered.
    assert data_of(first_question, "ผู้จัดงาน") == data_of(ask_role, "ผู้จัดงาน")
    admin_role = data_of(ask_role, "ผู้ดูแลระบบ")

    await admin.press("ผู้ประสานงานโซน", message=ask_role)
    await admin.wait_for_edit(ask_role)
    assert ask_role.text == "บทบาท: ผู้ประสานงานโซน"
    # Answered: the older copies' buttons are stale now.
    await admin.press("ผู้จัดงาน", message=first_question)
    assert (await admin.wait_for_answer())["text"] == STALE_TH
    zones = await admin.next_reply()
    assert zones.button_texts == ["โซน 3", "โซน 4", "เสร็จสิ้น"]
    await admin.press("เสร็จสิ้น", message=zones)
    assert (await admin.wait_for_answer())["text"] == "ผู้ประสานงานโซนต้องดูแลอย่างน้อยหนึ่งโซน"
    await admin.press("โซน 4", message=zones)
    await admin.wait_for_edit(zones)
    assert zones.button_texts == ["โซน 3", "✅ โซน 4", "เสร็จสิ้น"]
    # A forged zone (not a zone of this deployment, or no number at all) is refused politely
    # and changes nothing, even with this question's own nonce.
    nonce = data_of(zones, "โซน 3").split(":", 1)[0]
    for forged in ("z:999", "z:99999999999999999999", "z:-1", "z:", "zz", "z:3\x00"):
        await admin.press_data(f"{nonce}:{forged}", message=zones)
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
    assert ((await admin.next_reply()).text or "").startswith("กรุณาระบุบุคคล")
    await admin.send("'; DROP TABLE person; --")
    assert ((await admin.next_reply()).text or "").startswith("ระบุตัวบุคคลไม่ได้")
    await admin.send_sticker()
    assert ((await admin.next_reply()).text or "").startswith("ระบุตัวบุคคลไม่ได้")
    await admin.send("0899999999")
    assert ((await admin.next_reply()).text or "").startswith("ไม่พบผู้ลงทะเบียนที่ตรงกัน")

    await admin.forward_from(dao, "สวัสดี")
    done = await admin.next_reply()
    assert done.text == "เรียบร้อย: ดาว ประกาย #1 ได้รับบทบาทผู้ประสานงานโซนแล้ว (โซน 4)"
    assert (await access_of(world, person)).zone_limit() == {4}
    assert (await dao.next_reply()).text == (
        "ผู้ดูแลระบบได้มอบบทบาทผู้ประสานงานโซน ดูแลโซน 4 ให้ท่านแล้ว พิมพ์ /help เพื่อดูสิ่งที่ทำได้"
    )

    # The flow is over; replaying an old button (as a tampered client could) changes nothing.
    await admin.press_data(admin_role, message=ask_role)
    assert (await admin.wait_for_answer())["text"] == STALE_TH
    await admin.press_data("adm:r:admin", message=ask_role)
    assert (await admin.wait_for_answer())["text"] == STALE_TH
    assert (await access_of(world, person)).roles == {Role.COORDINATOR}


async def test_the_person_by_shared_contact_with_or_without_an_account(world: World) -> None:
    admin = world.admin
    kob = world.telegram.person(first_name="Kob")
    kob_person = await register(world, kob, phone="+66861112222")
    nok = world.telegram.person(first_name="Nok")
    nok_person = await register(world, nok, phone="+66863334444")

    await admin.send("/grant staff")
    assert ((await admin.next_reply()).text or "").startswith("กรุณาระบุบุคคล")
    await admin.share_contact("+66861112222", user_id=kob.user_id, first_name="Kob")
    assert ((await admin.next_reply()).text or "").startswith("เรียบร้อย")

    # A contact without a Telegram account: its phone number names the person.
    await admin.send("/grant organiser")
    assert ((await admin.next_reply()).text or "").startswith("กรุณาระบุบุคคล")
    await admin.share_contact("0863334444", user_id=None, first_name="Nok")
    assert ((await admin.next_reply()).text or "").startswith("เรียบร้อย")
    assert (await access_of(world, kob_person)).roles == {Role.STAFF}
    assert (await access_of(world, nok_person)).roles == {Role.ORGANISER}


async def test_guided_flow_can_be_cancelled_and_survives_a_restart(world: World) -> None:
    admin = world.admin
    kanya = world.telegram.person(first_name="Kanya", username="kanya")
    person = await register(world, kanya)
    await admin.send("/revoke")
    ask_role = await admin.next_reply()
    assert ask_role.text == "ต้องการถอนบทบาทใด"
    await world.bot.restart()
    await admin.send("/cancel")
    assert (await admin.next_reply()).text == "ยกเลิกการถอนบทบาทแล้ว ไม่มีข้อมูลใดถูกบันทึก"
    await admin.press("ทีมงาน", message=ask_role)
    assert (await admin.wait_for_answer())["text"] == STALE_TH

    await admin.send("/grant @kanya")
    ask_role = await admin.next_reply()
    # The flow is a row, read on every update: a new process continues it.
    async with world.sessions() as session:
        state = await session.get(ChatState, admin.user_id)
        assert state is not None
        assert (state.flow, state.step, state.draft["username"]) == ("grant", "role", "@kanya")
    await world.bot.restart()
    # The person named in the command was remembered across the restart.
    await admin.press("ทีมงาน", message=ask_role)
    done = await admin.wait_for(lambda m: (m.text or "").startswith("เรียบร้อย"))
    assert "ทีมงาน" in (done.text or "")
    assert (await access_of(world, person)).roles == {Role.STAFF}
    # Done: the row forgets the flow and the person it named.
    async with world.sessions() as session:
        state = await session.get(ChatState, admin.user_id)
        assert state is not None
        assert (state.flow, state.draft) == (None, {})


async def test_another_command_ends_the_flow_and_does_what_it_says(world: World) -> None:
    admin = world.admin
    await admin.send("/grant")
    await admin.next_reply()
    await admin.send("/roles")
    left, listing = await admin.replies(2)
    assert left.text == "ℹ️ ยกเลิกการมอบบทบาทที่ทำค้างไว้แล้ว (ไม่มีข้อมูลใดถูกบันทึก)"
    assert (listing.text or "").startswith("รายชื่อผู้มีบทบาท")


async def test_an_idle_flow_times_out_with_a_message(world: World) -> None:
    admin = world.admin
    await admin.send("/grant")
    ask_role = await admin.next_reply()
    world.bot.clock.advance(timedelta(minutes=31))
    await admin.send("0812345678")
    expired = await admin.next_reply()
    assert expired.text == (
        "⌛ การมอบบทบาทที่ทำค้างไว้หมดเวลาแล้ว จึงยกเลิกให้ ไม่มีข้อมูลใดถูกบันทึก เริ่มใหม่ได้ทุกเมื่อ"
    )
    await admin.press("ทีมงาน", message=ask_role)
    assert (await admin.wait_for_answer())["text"] == STALE_TH


async def test_refusals_are_explained_and_change_nothing(world: World) -> None:
    admin = world.admin
    admin_person = await register(world, admin, full_name="อนงค์ ผู้ดูแล")
    somsri = world.telegram.person(first_name="Somsri", username="somsri")
    somsri_person = await register(world, somsri, full_name="สมศรี ดีมาก")

    await admin.send("/revoke admin @anong_admin")
    assert (await admin.next_reply()).text == (
        "ผู้ดูแลระบบคนนี้กำหนดไว้ในไฟล์ตั้งค่าของบอท ต้องถอดถอนที่ไฟล์ตั้งค่าเท่านั้น"
    )
    await admin.send("/revoke staff @somsri")
    assert (await admin.next_reply()).text == "บุคคลนี้ไม่ได้มีบทบาท (หรือโซน) นี้ ไม่มีการเปลี่ยนแปลง"
    await admin.send("/grant staff 3 @somsri")
    assert (await admin.next_reply()).text == (
        "เฉพาะผู้ประสานงานโซนเท่านั้นที่มีโซน กรุณาไม่ต้องระบุหมายเลขโซนสำหรับบทบาทนี้"
    )
    await admin.send("/grant coordinator 9 @somsri")
    assert (await admin.next_reply()).text == "ไม่มีโซน 9"
    # Zones are checked before the person is asked for, and the flow ends.
    await admin.send("/grant coordinator 9")
    assert (await admin.next_reply()).text == "ไม่มีโซน 9"
    await admin.send("/grant staff @somsri")
    await admin.next_reply()
    await somsri.next_reply()
    await admin.send("/grant staff @somsri")
    assert (await admin.next_reply()).text == "บุคคลนี้มีบทบาทนี้ (และโซนดังกล่าว) อยู่แล้ว ไม่มีการเปลี่ยนแปลง"
    deputy = world.telegram.person(first_name="Deputy", username="deputy")
    deputy_person = await register(world, deputy)
    await give_role(world, deputy_person, Role.ADMIN)
    await deputy.send("/revoke admin @deputy")
    assert (await deputy.next_reply()).text == (
        "ท่านไม่สามารถถอนบทบาทผู้ดูแลระบบของท่านเองได้ กรุณาให้ผู้ดูแลระบบท่านอื่นดำเนินการ"
    )
    assert [e.action for e in await audit_entries(world)] == ["role.grant"]
    assert (await access_of(world, admin_person)).roles == {Role.ADMIN}
    assert (await access_of(world, deputy_person)).roles == {Role.ADMIN}
    # A refused change tells nobody anything.
    await world.bot.settle()
    assert await notices_to(world, somsri_person) == ["admin.you_were_granted"]
    assert len(somsri.messages) == 1


async def test_hidden_forward_asks_for_a_phone_number(world: World) -> None:
    admin = world.admin
    hidden = world.telegram.person(first_name="Hidden")
    await register(world, hidden)
    await admin.send("/grant staff")
    assert ((await admin.next_reply()).text or "").startswith("กรุณาระบุบุคคล")
    await admin.forward_from(hidden, hidden=True)
    assert ((await admin.next_reply()).text or "").startswith("บุคคลนี้ซ่อนบัญชี")
    assert await audit_entries(world) == []


async def test_control_characters_in_arguments_never_reach_the_database(world: World) -> None:
    admin = world.admin
    pim = world.telegram.person(first_name="Pim", username="pim_t")
    person = await register(world, pim, phone="+66812345678")
    # A NUL breaks PostgreSQL ("invalid byte sequence"): it is dropped at the edge.
    await admin.send("/grant staff 081\x00234\x005678")
    assert ((await admin.next_reply()).text or "").startswith("เรียบร้อย")
    await admin.send("/revoke staff")
    assert ((await admin.next_reply()).text or "").startswith("กรุณาระบุบุคคล")
    await admin.send("@pim\x00_t\x07")
    assert ((await admin.next_reply()).text or "").startswith("เรียบร้อย")
    await admin.send("/audit 1\x00")
    assert ((await admin.next_reply()).text or "").startswith("การดำเนินการสำคัญล่าสุด (1 รายการ)")
    await admin.send("/audit \x00")
    assert ((await admin.next_reply()).text or "").startswith("การดำเนินการสำคัญล่าสุด (2 รายการ)")
    assert (await access_of(world, person)).roles == frozenset()


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
    # A forged button, as a tampered client could send it: there is no flow to press it in.
    await someone.press_data("~AAAA:admin")
    assert (await someone.wait_for_answer())["text"] == STALE_TH
    assert (await access_of(world, person)).roles == ({role} if role else set())
    assert await audit_entries(world) == []


async def test_a_revoked_admin_loses_their_buttons_and_steps_mid_flow(world: World) -> None:
    deputy = world.telegram.person(first_name="Deputy", username="deputy")
    deputy_person = await register(world, deputy)
    target = world.telegram.person(first_name="Target", username="target")
    target_person = await register(world, target)
    await give_role(world, deputy_person, Role.ADMIN)

    await deputy.send("/grant @target")
    ask_role = await deputy.next_reply()
    await deputy.send("/grant coordinator")
    await deputy.next_reply()  # the first flow is left
    ask_zones = await deputy.next_reply()
    await world.admin.send("/revoke admin @deputy")
    assert ((await world.admin.next_reply()).text or "").startswith("เรียบร้อย")
    await deputy.wait_for(lambda m: "ถอนบทบาทผู้ดูแลระบบ" in (m.text or ""))
    # A zone button of the open flow: refused, and the flow is over.
    await deputy.press("โซน 3", message=ask_zones)
    assert (await deputy.wait_for_answer())["text"] == NOT_ALLOWED_TH
    await deputy.press("โซน 4", message=ask_zones)
    assert (await deputy.wait_for_answer())["text"] == STALE_TH
    await deputy.press("ผู้ดูแลระบบ", message=ask_role)
    assert (await deputy.wait_for_answer())["text"] == STALE_TH

    # A flow opened before losing the role, whose next step is the change itself.
    await give_role(world, deputy_person, Role.ADMIN)
    await deputy.send("/grant @target")
    ask_role = await deputy.next_reply()
    async with world.sessions() as session:
        await session.exec(delete(RoleGrant).where(col(RoleGrant.person_id) == deputy_person.id))
        await session.commit()
    await deputy.press("ผู้ดูแลระบบ", message=ask_role)
    assert (await deputy.wait_for_answer())["text"] == NOT_ALLOWED_TH
    assert (await access_of(world, target_person)).roles == frozenset()
    assert [e.action for e in await audit_entries(world)] == ["role.revoke"]


async def test_roles_lists_everyone_with_a_role(world: World) -> None:
    admin = world.admin
    somchai = world.telegram.person(first_name="Somchai", username="somchai")
    somchai_person = await register(world, somchai, full_name="สมชาย ใจดี")
    await give_role(world, somchai_person, Role.COORDINATOR, zones=(3, 4))
    somsak = world.telegram.person(first_name="Somsak")
    somsak_person = await register(world, somsak, full_name="สมศักดิ์ รักงาน")
    await give_role(world, somsak_person, Role.STAFF)
    await admin.send("/roles")
    listing = await admin.next_reply()
    assert listing.text == (
        "รายชื่อผู้มีบทบาท\n"
        f"• บัญชีเทเลแกรม {admin.user_id} (ยังไม่ลงทะเบียน): ผู้ดูแลระบบ [ไฟล์ตั้งค่า]\n"
        "• สมชาย ใจดี (@somchai) #1: ผู้ประสานงานโซน (โซน 3, 4)\n"
        "• สมศักดิ์ รักงาน #2: ทีมงาน"
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
    assert f"#{admin_person.id} · มอบบทบาท · person #{people[2].id} · ทีมงาน" in lines[1]
    assert " น." in lines[1]  # a Thai time, e.g. "24 พ.ย. 69 16.05 น."
    # Names and phone numbers never appear in the audit view.
    assert "คนที่" not in (shown.text or "")
    # Thai digits count too.
    await admin.send("/audit ๑")
    assert ((await admin.next_reply()).text or "").startswith("การดำเนินการสำคัญล่าสุด (1 รายการ)")
    for wrong in ("/audit lots", "/audit 1 2", "/audit " + "9" * 5000, "/audit -1", "/audit ¹"):
        await admin.send(wrong)
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
