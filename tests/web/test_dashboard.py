"""The organisers' dashboard over HTTP: who may see what, and actions that happen once."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.config import Settings
from storage.models import AuditEntry, CheckIn, Event, Person, Role
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.web.conftest import an_event, arrived, init_data, register, someone

ORGANISER, COORDINATOR, VOLUNTEER, STRANGER = 9001, 9002, 9003, 9004


class World:
    """An event with people of zones 3 and 4, and the people who look at it."""

    def __init__(self, event: Event, people: dict[str, Person]) -> None:
        self.event = event
        self.people = people


@pytest.fixture
async def world(bot: BotHarness) -> World:
    event = await an_event(bot, title="สัมมนาเครือข่ายอาสา")
    await someone(bot, telegram_id=ORGANISER, name="ผู้จัด งาน", roles=(Role.ORGANISER,))
    await someone(
        bot, telegram_id=COORDINATOR, name="ผู้ประสาน โซนสาม", roles=(Role.COORDINATOR,), zones=(3,)
    )
    await someone(bot, telegram_id=VOLUNTEER, name="อาสา ธรรมดา")
    people = {
        "anong": await someone(bot, telegram_id=None, name="อนงค์ คลองเตย", district="1033"),
        "boon": await someone(bot, telegram_id=None, name="บุญ คันนายาว", district="1043"),
        "chai": await someone(
            bot, telegram_id=None, name="ชัย บางนา", district="1047", phone="+66812340001"
        ),
        "dao": await someone(bot, telegram_id=None, name="ดาว บางกะปิ", district="1006"),
        "ekk": await someone(
            bot, telegram_id=None, name="เอก ข้าราชการ", participant_type="civil_servant"
        ),
    }
    await register(bot, event, *(people[name] for name in ("anong", "boon", "chai", "dao")))
    await arrived(bot, event, people["anong"])
    await arrived(bot, event, people["boon"], late=True)
    await arrived(bot, event, people["ekk"])
    return World(event, people)


def tma(settings: Settings, telegram_id: int, **kwargs: Any) -> dict[str, str]:
    """The header a Mini App sends for a person."""
    return {
        "Authorization": "tma " + init_data(telegram_id, token=settings.telegram.token, **kwargs)
    }


async def view(
    http: httpx.AsyncClient, event: Event, headers: dict[str, str], q: str = ""
) -> httpx.Response:
    return await http.post(f"/api/dashboard/{event.id}/view", json={"q": q}, headers=headers)


def figure(html: str, label: str) -> int:
    """The big number shown above a label."""
    match = re.search(rf'<span class="big">(\d+|–)</span><span>{label}</span>', html)
    assert match is not None, label
    return int(match.group(1))


async def test_an_organiser_sees_the_headcounts_figures_and_lists(
    bot: BotHarness, world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    reply = await view(http, world.event, tma(settings, ORGANISER))
    assert reply.status_code == 200
    html = reply.json()["html"]
    assert figure(html, "เช็กอินแล้ว") == 3
    assert figure(html, "ลงชื่อร่วมงาน") == 4
    assert figure(html, "ความจุ") == 50
    assert figure(html, "มาสาย") == 1
    assert figure(html, "ยังไม่มา") == 2
    assert "ยังไม่มา (2 คน)" in html
    assert "ชัย บางนา" in html
    assert "ดาว บางกะปิ" in html
    assert "มาสาย (1 คน)" in html
    assert "บุญ คันนายาว" in html
    assert "ตามหน่วยงาน" in html  # the agency table: organisers see every zone
    # Attendee groups use the one term of each group (terms.po).
    assert re.search(r"<th>วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์</th><td>1</td>", html)
    assert "+66812340001" not in html
    assert "0812340001" not in html
    # The search narrows the lists, and offers people to check in.
    found = (await view(http, world.event, tma(settings, ORGANISER), q="ชัย")).json()["html"]
    assert "ยังไม่มา (1 คน)" in found
    assert "ดาว บางกะปิ" not in found
    assert 'data-action="check_in"' in found


async def test_a_coordinator_sees_only_their_zones(
    world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    html = (await view(http, world.event, tma(settings, COORDINATOR))).json()["html"]
    assert "เฉพาะโซนของท่าน: โซน 3" in html
    assert figure(html, "เช็กอินแล้ว") == 1
    assert figure(html, "ลงชื่อร่วมงาน") == 2
    assert "ชัย บางนา" in html
    for elsewhere in ("ดาว บางกะปิ", "บุญ คันนายาว", "เอก ข้าราชการ", "คันนายาว"):
        assert elsewhere not in html
    assert "ตามหน่วยงาน" not in html
    assert 'data-action="rotate"' not in html  # no event management for coordinators


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "tma x"}, id="junk"),
        pytest.param({"Authorization": "Bearer x"}, id="other-scheme"),
    ],
)
async def test_no_credentials_see_nothing(
    world: World, http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    reply = await view(http, world.event, headers)
    assert reply.status_code == 401
    assert "html" not in reply.json()


async def test_forged_stale_and_foreign_init_data_are_refused(
    world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    good = init_data(ORGANISER, token=settings.telegram.token)
    # Someone else's id put into a genuine organiser's data: the signature no longer fits.
    forged = good.replace(str(ORGANISER), str(VOLUNTEER))
    assert forged != good
    stale = init_data(
        ORGANISER,
        token=settings.telegram.token,
        age=timedelta(seconds=settings.web.init_data_max_age_seconds + 5),
    )
    other_bot = init_data(ORGANISER, token="987654321:" + "B" * 35)
    for data in (forged, stale, other_bot, good + "&hash=00", good[:-2]):
        reply = await view(http, world.event, {"Authorization": f"tma {data}"})
        assert reply.status_code == 401, data
        assert "ยืนยันตัวตนไม่ได้" in reply.json()["error"]
    assert (await view(http, world.event, {"Authorization": f"tma {good}"})).status_code == 200


async def test_volunteers_and_strangers_are_refused_and_roles_are_read_every_time(
    bot: BotHarness, world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    for who in (VOLUNTEER, STRANGER):
        reply = await view(http, world.event, tma(settings, who))
        assert reply.status_code == 403
        assert reply.json() == {"error": "ท่านไม่มีสิทธิ์ดูหรือทำรายการนี้"}
    # The organiser loses the role while the dashboard is open: the next request is refused.
    headers = tma(settings, ORGANISER)
    assert (await view(http, world.event, headers)).status_code == 200
    async with bot.sessions() as session:
        from storage.models import RoleGrant

        for grant in (await session.exec(select(RoleGrant))).all():
            await session.delete(grant)
        await session.commit()
    assert (await view(http, world.event, headers)).status_code == 403


async def act(
    http: httpx.AsyncClient, event: Event, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await http.post(f"/api/dashboard/{event.id}/action", json=body, headers=headers)


async def test_actions_happen_once_and_are_audited(
    bot: BotHarness, world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    headers = tma(settings, ORGANISER)
    chai = world.people["chai"].id
    request = {"action": "check_in", "person_id": chai, "request_id": "a1b2c3d4e5f60718293a"}
    done = await act(http, world.event, headers, **request)
    assert done.status_code == 200
    assert done.json()["message"] == f"เช็กอินให้แล้ว «{world.event.title}»"
    # The same request again (a replay, even with fresh credentials) changes nothing.
    again = await act(http, world.event, tma(settings, ORGANISER), **request)
    assert again.status_code == 409
    assert again.json()["error"] == "รายการนี้ทำไปแล้ว ระบบไม่ทำซ้ำ"
    # A genuinely new request for the same person: already checked in.
    twice = await act(http, world.event, headers, **{**request, "request_id": "f" * 32})
    assert twice.status_code == 409
    assert "เช็กอินแล้วเมื่อ" in twice.json()["error"]

    rotated = await act(http, world.event, headers, action="rotate", request_id="r" * 20)
    closed = await act(http, world.event, headers, action="close", request_id="c" * 20)
    assert (rotated.status_code, closed.status_code) == (200, 200)
    replayed = await act(http, world.event, headers, action="rotate", request_id="r" * 20)
    assert replayed.status_code == 409
    async with bot.sessions() as session:
        event = await session.get(Event, world.event.id)
        checkins = (await session.exec(select(CheckIn).where(col(CheckIn.person_id) == chai))).all()
        audit = [
            entry.action
            for entry in (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
        ]
    assert event is not None
    assert event.code != world.event.code
    assert rotated.json()["message"] == f"รหัสใหม่: {event.code}"
    assert event.checkin_override == "closed"
    assert [(c.method, c.performed_by_id is not None) for c in checkins] == [("staff", True)]
    assert audit == ["checkin.staff", "event.rotate_code", "event.checkin_closed"]


async def test_coordinators_may_not_manage_and_bad_requests_change_nothing(
    bot: BotHarness, world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    headers = tma(settings, COORDINATOR)
    refused = await act(http, world.event, headers, action="rotate", request_id="x" * 20)
    assert refused.status_code == 403
    # Check-in of someone outside their zones: refused too.
    dao = world.people["dao"].id
    outside = await act(
        http, world.event, headers, action="check_in", person_id=dao, request_id="y" * 20
    )
    assert outside.status_code == 403
    for body in (
        {"action": "check_in", "person_id": 2**40, "request_id": "z" * 20},
        {"action": "explode", "request_id": "w" * 20},
        {"action": "rotate", "request_id": "short"},
    ):
        reply = await act(http, world.event, tma(settings, ORGANISER), **body)
        assert reply.status_code in (400, 409), body
    async with bot.sessions() as session:
        event = await session.get(Event, world.event.id)
        count = len((await session.exec(select(CheckIn))).all())
    assert event is not None
    assert event.code == world.event.code
    assert count == 3


async def test_the_export_downloads_once_asked_for_and_is_audited(
    bot: BotHarness, world: World, http: httpx.AsyncClient, settings: Settings
) -> None:
    link = await act(
        http,
        world.event,
        tma(settings, ORGANISER),
        action="export",
        format="csv",
        request_id="e" * 20,
    )
    assert link.status_code == 200
    url = link.json()["download"]
    csv = await http.get(url)
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert "อนงค์ คลองเตย" in text
    assert "บุญ คันนายาว" in text
    xlsx = await http.get(url.replace(".csv", ".xlsx"))
    assert xlsx.content[:2] == b"PK"
    assert (await http.get(url.replace(".csv", ".txt"))).status_code == 404
    assert (await http.get(url[:-8] + "AAAA.csv")).status_code == 404
    coordinator = await act(
        http,
        world.event,
        tma(settings, COORDINATOR),
        action="export",
        format="csv",
        request_id="q" * 20,
    )
    assert coordinator.status_code == 403
    async with bot.sessions() as session:
        audit = (await session.exec(select(AuditEntry.action))).all()
    assert list(audit).count("export.attendees") == 2


async def test_a_laptop_opens_the_dashboard_with_a_one_time_link(
    bot: BotHarness, world: World, http: httpx.AsyncClient, telegram: FakeTelegram
) -> None:
    organiser = telegram.person(first_name="Organiser")
    async with bot.sessions() as session:
        me = (await session.exec(select(Person).where(Person.telegram_id == ORGANISER))).one()
        me.telegram_id = organiser.user_id
        session.add(me)
        await session.commit()
    await organiser.send("/dashboard")
    reply = await organiser.next_reply()
    assert (
        reply.text == f"แดชบอร์ด «{world.event.title}»: ยอดผู้เข้าร่วมแบบเรียลไทม์ รายชื่อผู้มาสายและผู้ที่ยังไม่มา"
    )
    buttons = json.dumps(reply.reply_markup)
    assert f"/dashboard/{world.event.id}" in buttons
    assert "web_app" in buttons
    await organiser.press("เปิดบนคอมพิวเตอร์", message=reply)
    sent = await organiser.wait_for(lambda m: "/login/" in (m.text or ""))
    login = re.search(r"http://\S+/login/\S+", sent.text or "")
    assert login is not None
    path = httpx.URL(login.group(0)).path

    # Looking at the link (a preview, a GET) does not spend it; the button does, once.
    assert (await http.get(path)).status_code == 200
    opened = await http.post(path)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/dashboard/{world.event.id}"
    assert "httponly" in opened.headers["set-cookie"].lower()
    assert (await view(http, world.event, {})).status_code == 200  # the cookie
    http.cookies.clear()
    assert (await http.post(path)).status_code == 404
    assert (await view(http, world.event, {})).status_code == 401

    # A second link, left for longer than ten minutes, no longer works.
    await organiser.press("เปิดบนคอมพิวเตอร์", message=reply)
    late = await organiser.wait_for(lambda m: "/login/" in (m.text or "") and m is not sent)
    found = re.search(r"http://\S+/login/\S+", late.text or "")
    assert found is not None
    bot.clock.advance(timedelta(minutes=11))
    assert (await http.post(httpx.URL(found.group(0)).path)).status_code == 404
