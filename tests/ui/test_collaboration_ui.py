"""Collaboration coordinators (福祉総務課) in the browser: escalated cases arrive live; the plan editor with
goal and role rows refuses in words and keeps what was typed; propose; revise after the meeting's request;
the history keeps every revision; a printable plan; CSV for Excel; a household's cases escalated together held as one
case whose plan offers a person line per related case (issue 15, D16)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME, SHAKYO
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in

COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
SECRETARIAT = staff_headers("kaigi-001", LEAD, "secretariat")


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{url}: {response.status_code} {response.text}"
    result: dict[str, Any] = response.json()
    return result


async def escalate_a_case(intake: str, name: str, consent: bool = True) -> str:
    """Upstream, not the point here: a counter receives a consultation and escalates it (intake's API)."""
    async with httpx.AsyncClient(headers=reader()) as client:
        case = await post(client, f"{intake}/consultations", {
            "counter": ELDERLY.code, "channel": "訪問", "concerns": ["高齢・介護", "ひきこもり", "家計・債務"],
            "person": {"name": name}, "confirm_new_person": True}, COUNTER_STAFF)
        case_id: str = case["case_id"]
        if consent:
            await post(client, f"{intake}/cases/{case_id}/consent",
                       {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        await post(client, f"{intake}/cases/{case_id}/escalate",
                   {"reason": "8050世帯: 母の介護、息子のひきこもり、家計の課題が重なる", "primary_agency": ELDERLY.ja},
                   COUNTER_STAFF)
    return case_id


async def test_coordinator_drafts_proposes_and_revises_a_plan(ui_suite: Suite, page: Page) -> None:
    collaboration, meeting = ui_suite.url("collaboration"), ui_suite.url("meeting")
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    await expect(page.get_by_role("heading", name=re.compile("多機関協働のケース"))).to_be_visible()
    await script_ready(page)  # the list's live part is htmx's once the page's scripts have run

    # A counter escalates a case while the list is open: it appears without reloading.
    case_id = await escalate_a_case(ui_suite.url("intake"), "調布 太郎")
    row = page.locator(f"#cases tr[data-case='{case_id}']")
    await expect(row).to_be_visible(timeout=10_000)
    await expect(row).to_contain_text("プランを作成")
    await shoot(page, "collaboration-home")

    await row.get_by_role("link", name=case_id[:8]).click()
    await expect(page.locator("#primary")).to_have_text(ELDERLY.ja)
    await shoot(page, "collaboration-case")
    await page.get_by_role("link", name=re.compile("プランを作成")).click()
    await script_ready(page, url=re.compile(r"/plans/new$"))  # the rows' buttons are jusou.js's

    # The editor: direction, goals as rows, roles as rows. First a role with an agency the city does not know.
    await page.get_by_label("支援の方向性").fill("母の介護負担を軽くし、息子の社会参加を段階的に支える")
    await page.get_by_role("textbox", name="目標1").fill("月1回の訪問で息子と会える関係をつくる")
    # By keyboard: Enter on "add a goal" opens a row and puts the cursor in it.
    await page.get_by_role("button", name=re.compile("目標を追加")).press("Enter")
    await expect(page.locator("#goal-rows input").nth(1)).to_be_focused()
    await page.keyboard.type("母の介護サービスを見直す")
    await expect(page.get_by_label("目標2", exact=True)).to_have_value("母の介護サービスを見直す")  # the new row is labelled
    await page.get_by_role("button", name=re.compile("目標を追加")).click()
    await page.locator("#goal-rows input").nth(2).fill("消す目標")
    await page.locator("#goal-rows [data-row]").nth(2).get_by_role("button", name=re.compile("削除")).click()
    await expect(page.locator("#goal-rows input")).to_have_count(2)
    first_role = page.get_by_role("group", name="役割1")
    await expect(first_role.get_by_label("機関")).to_have_value(ELDERLY.ja)  # D11: the primary agency first
    await first_role.get_by_role("textbox", name="役割").fill("母の介護サービスの調整")
    await first_role.get_by_label("担当者").fill("山田")
    await page.get_by_role("button", name=re.compile("役割を追加")).click()
    second_role = page.locator("#role-rows [data-row]").nth(1)
    await expect(second_role.get_by_label("機関")).to_be_focused()  # keyboard: the new row is where you type next
    await second_role.get_by_label("機関").fill("どこかの相談所")
    await second_role.get_by_role("textbox", name="役割").fill("家計の相談")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.locator("#plan-error")).to_contain_text("登録されていない機関です: どこかの相談所")
    await expect(page.get_by_label("支援の方向性")).to_have_value("母の介護負担を軽くし、息子の社会参加を段階的に支える")
    await expect(page.locator("#goal-rows input").nth(1)).to_have_value("母の介護サービスを見直す")
    await expect(page.locator("#role-rows [data-row]").nth(1).get_by_role("textbox", name="役割")).to_have_value("家計の相談")
    await shoot(page, "collaboration-plan-refused")
    await script_ready(page)  # the refusal is a new page: its remove buttons are jusou.js's again

    # Remove every role: a plan without roles is refused in words too (D4).
    for _ in range(2):
        await page.locator("#role-rows [data-row]").first.get_by_role("button", name=re.compile("削除")).click()
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.locator("#plan-error")).to_contain_text("役割分担が空です")
    await expect(page.locator("#goal-rows input").first).to_have_value("月1回の訪問で息子と会える関係をつくる")
    await script_ready(page)  # a new page again: its add button

    # Two roles from the city's agencies: saved as a draft.
    role = page.locator("#role-rows [data-row]").first
    await role.get_by_label("機関").fill(ELDERLY.ja)
    await role.get_by_role("textbox", name="役割").fill("母の介護サービスの調整")
    await role.get_by_label("担当者").fill("山田")
    await page.get_by_role("button", name=re.compile("役割を追加")).click()
    role = page.locator("#role-rows [data-row]").nth(1)
    await role.get_by_label("機関").fill(HARDSHIP.ja)
    await role.get_by_role("textbox", name="役割").fill("家計の相談と就労の準備")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.get_by_role("alert")).to_contain_text("下書き保存しました")
    await expect(page.locator("#plan-status")).to_have_text("下書き")
    plan_id = re.search(r"/ui/plans/([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]
    await shoot(page, "collaboration-plan-draft")

    # Propose to the meeting.
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第1版を会議へ提出しました")
    await expect(page.locator("#plan-status")).to_have_text("会議に提出中")
    await expect(page.locator("#content")).to_contain_text(HARDSHIP.ja)
    await script_ready(page)  # the page's live part listens before the change it is to show is made

    # The meeting asks for a revision (its own pages are tested elsewhere): the open page shows it live.
    async with httpx.AsyncClient(headers=reader()) as client:
        async def on_agenda() -> None:
            for _ in range(100):
                response = await client.get(f"{meeting}/agenda/{plan_id}")
                if response.status_code == 200 and response.json()["status"] == "proposed":
                    return
                await page.wait_for_timeout(100)
            raise AssertionError(f"the plan never reached the meeting agenda: {plan_id} {response.status_code} {response.text}")

        await on_agenda()
        sitting = await post(client, f"{meeting}/meetings", {
            "meeting_type": "jusou_shien_kaigi", "held_on": "2026-11-28",
            "attendees": [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]}, SECRETARIAT)
        await post(client, f"{meeting}/meetings/{sitting['meeting_id']}/decisions", {
            "plan_id": plan_id, "decision": "revision_requested", "reasons": "居場所づくりの役割を加えてください",
            "positions": [{"agency": a, "position": "agree"} for a in [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]],
        }, SECRETARIAT)
    await expect(page.locator("#plan-status")).to_have_text("修正依頼", timeout=10_000)
    await expect(page.locator("#revision-request")).to_contain_text("居場所づくりの役割を加えてください")
    await expect(page.get_by_role("link", name=re.compile("画面を更新して操作する"))).to_be_visible()
    await page.get_by_role("link", name=re.compile("画面を更新して操作する")).click()

    # Revise: a third role, then propose the second revision.
    await expect(page.get_by_role("heading", name=re.compile("修正依頼を受けて修正する"))).to_be_visible()
    await script_ready(page)
    await page.get_by_role("button", name=re.compile("役割を追加")).click()
    role = page.locator("#role-rows [data-row]").nth(2)
    await role.get_by_label("機関").fill(SHAKYO)
    await role.get_by_role("textbox", name="役割").fill("居場所の紹介と同行")
    await shoot(page, "collaboration-plan-revise")
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第2版を会議へ提出しました")
    history = page.locator("#plan-live table.history")
    await expect(history.locator("tr[data-event='Proposed']")).to_have_count(2)
    await expect(history.locator("tr[data-event='DecisionRecorded']")).to_contain_text("修正依頼")
    await expect(history.locator("tr[data-event='DecisionRecorded']")).to_contain_text("居場所づくり")
    revisions = page.locator("#revisions details")
    await expect(revisions).to_have_count(2)  # each proposed revision kept (D4)
    await expect(revisions.first).to_contain_text(SHAKYO)
    await revisions.nth(1).locator("summary").click()
    await expect(revisions.nth(1)).not_to_contain_text(SHAKYO)
    await expect(history.first).to_contain_text("令和")
    await shoot(page, "collaboration-plan")

    # The printable plan: a clean document; on paper the site's header and buttons are gone.
    await page.get_by_role("link", name=re.compile("印刷用")).click()
    document = page.get_by_role("article", name="支援プラン")
    await expect(document).to_contain_text("支援プラン（多機関協働事業）")
    await expect(document).to_contain_text(SHAKYO)
    await expect(document).to_contain_text("修正依頼")
    await shoot(page, "collaboration-plan-print")
    await page.emulate_media(media="print")
    await expect(page.locator("header.top")).to_be_hidden()
    await expect(page.get_by_role("button", name=re.compile("印刷する"))).to_be_hidden()
    await shoot(page, "collaboration-plan-print-media")
    await page.emulate_media(media="screen")

    # On a tablet: the editor's rows stack and stay readable.
    await page.set_viewport_size({"width": 768, "height": 1024})
    await page.goto(f"{collaboration}/ui/cases/{case_id}/plans/new")
    await expect(page.get_by_role("group", name="役割1").get_by_label("機関")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, f"the editor scrolls sideways on a tablet ({width}px)"
    await shoot(page, "collaboration-plan-new-tablet")


async def test_the_case_list_exports_csv_for_excel(ui_suite: Suite) -> None:
    await escalate_a_case(ui_suite.url("intake"), "調布 次郎")
    async with httpx.AsyncClient(headers=reader()) as client:
        for _ in range(100):  # collaboration opens the case a moment after the escalation
            response = await client.get(f"{ui_suite.url('collaboration')}/ui/cases.csv")
            if response.text.count("\r\n") >= 2:
                break
            await asyncio.sleep(0.1)
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Japanese correctly
    lines = response.text.lstrip("\ufeff").split("\r\n")
    assert lines[0].startswith("ケース番号,理由,相談内容,主担当")
    assert len([line for line in lines if line]) >= 2
    assert "個人" not in lines[0]  # the list carries no personal information (names stay at the counter)


# -- issue 15 (D16): a household's cases escalated together are ONE case here; its plan covers each related case --

HOUSEHOLD_COORDINATOR = ("fukushi-003", LEAD, "coordinator")


async def household_escalated(intake: str) -> tuple[str, str]:
    """Upstream, over intake's API (its pages are tested in test_household_ui): a mother and her son consult, a
    household is formed around the mother, the son added, both cases escalated together (the mother's first)."""
    async with httpx.AsyncClient(headers=COUNTER_STAFF) as client:
        async def sent(url: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(f"{intake}{url}", json=body)
            assert response.status_code in (200, 201), f"{url}: {response.status_code} {response.text}"
            result: dict[str, Any] = response.json()
            return result

        cases, refs = [], []
        for name, phone, concern in (("国領 トメ", "042-400-0201", "高齢・介護"), ("国領 次郎", "042-400-0202", "ひきこもり")):
            case = await sent("/consultations", {"counter": ELDERLY.code, "channel": "来所", "concerns": [concern],
                                                 "confirm_new_person": True, "person": {"name": name, "phone": phone}})
            cases.append(str(case["case_id"]))
            person = await client.get(f"{intake}/cases/{case['case_id']}/person", params={"basis": "own_counter"})
            assert person.status_code == 200, person.text
            refs.append(person.json()["person_ref"])
        await sent(f"/cases/{cases[0]}/household", {})
        await sent(f"/persons/{refs[0]}/household/members", {"relation": "child", "person_ref": refs[1]})
        await sent(f"/persons/{refs[0]}/household/escalation", {
            "case_ids": cases, "reason": "8050: 母の介護と次男のひきこもり", "primary_agency": ELDERLY.ja})
    return cases[0], cases[1]


async def test_d16_a_household_escalation_is_one_case_whose_plan_covers_each_related_case(
        ui_suite: Suite, page: Page) -> None:
    collaboration, intake = ui_suite.url("collaboration"), ui_suite.url("intake")
    mother, son = await household_escalated(intake)

    # GET /cases/{id}: the one case, holding the son's case (the bus carried ids only).
    async with httpx.AsyncClient(headers=reader()) as client:
        for _ in range(100):
            response = await client.get(f"{collaboration}/cases/{mother}")
            if response.status_code == 200:
                break
            await page.wait_for_timeout(100)
        assert response.status_code == 200, response.text
        held = response.json()
        assert held["related_case_ids"] == [son] and held["household_ref"]
        assert (await client.get(f"{collaboration}/cases/{son}")).status_code == 404  # no second case

    await sign_in(page, collaboration, *HOUSEHOLD_COORDINATOR)
    await expect(page.locator(f"#cases tr[data-case='{mother}']")).to_contain_text("世帯で連携（他1件）")
    await page.goto(f"{collaboration}/ui/cases/{mother}")
    household = page.locator("#household")
    await expect(household).to_contain_text("世帯で連携（他1件のケース）")
    link = household.get_by_role("link", name=f"ケース {son[:8]}")
    await expect(link).to_have_attribute("href", f"{intake}/ui/cases/{son}")

    # The plan editor offers the son's line; its goals go in the one plan, labelled by his case.
    await page.get_by_role("link", name=re.compile("プランを作成")).click()
    member = page.locator("#member-rows [data-row]")
    await expect(member).to_have_count(1)
    await expect(member.get_by_label("世帯員 / member")).to_have_value(f"世帯員（ケース {son[:8]}）")
    await page.locator("#support_direction").fill("母の介護と次男の社会参加を世帯で支える")
    await page.locator("#goal-1").fill("デイサービスを週2回利用する")
    await member.get_by_label(re.compile("目標（1行に1つ）")).fill("地域の居場所に月1回参加する")
    await page.locator("#role-rows [data-row]").first.get_by_role("textbox", name="役割").fill("母の介護サービスの調整")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.get_by_role("alert")).to_contain_text("下書き保存しました")
    # the draft, open in the editor again: the son's line kept with his goal, no second empty line offered
    await expect(member).to_have_count(1)
    await expect(member.get_by_label("世帯員 / member")).to_have_value(f"世帯員（ケース {son[:8]}）")
    await expect(member.get_by_label(re.compile("目標（1行に1つ）"))).to_have_value("地域の居場所に月1回参加する")

