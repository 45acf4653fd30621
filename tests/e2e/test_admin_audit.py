"""The audit outlives an erasure and never holds a name or a phone number."""

from __future__ import annotations

from tests.e2e.test_admin_support import audit_entries, register, running_world
from tests.fake_telegram import FakeTelegram


async def test_erasing_a_person_keeps_the_audit_and_the_audit_keeps_no_personal_data(
    telegram: FakeTelegram, database_url: str
) -> None:
    async with running_world(telegram, database_url) as world:
        admin = world.admin
        await register(world, admin, full_name="อนงค์ ผู้ดูแล", phone="+66811111111")
        somchai = telegram.person(first_name="Somchai", username="somchai_v")
        person = await register(world, somchai, full_name="สมชาย ใจดี", phone="+66812345678")

        await admin.send("/grant organiser 081 234 5678")
        await admin.wait_for(lambda m: (m.text or "").startswith("เรียบร้อย"))
        await somchai.next_reply()
        await somchai.send("/forget")
        confirm = await somchai.next_reply()
        await somchai.press("🗑 ลบข้อมูลของฉัน", message=confirm)
        await world.bot.settle()

        entries = await audit_entries(world)
        assert [(e.action, e.target_id) for e in entries] == [
            ("role.grant", str(person.id)),
            ("person.erase", str(person.id)),
        ]
        stored = " ".join(f"{e.action} {e.target_type} {e.target_id} {e.detail}" for e in entries)
        for personal in ("สมชาย", "ใจดี", "somchai", "812345678", "0812345678", "Somchai"):
            assert personal not in stored

        await admin.send("/audit")
        shown = (await admin.wait_for(lambda m: (m.text or "").startswith("การดำเนินการ"))).text
        assert shown is not None
        lines = shown.splitlines()
        assert len(lines) == 3
        assert "ลบข้อมูลส่วนบุคคล" in lines[1]
        assert f"person #{person.id}" in lines[1]
        assert "มอบบทบาท" in lines[2]
        assert "สมชาย" not in shown

        # The erased organiser holds no role any more, and /roles does not show them.
        await admin.send("/roles")
        roles = (await admin.wait_for(lambda m: (m.text or "").startswith("รายชื่อ"))).text
        assert "สมชาย" not in (roles or "")
