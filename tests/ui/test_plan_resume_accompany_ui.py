"""The plan's day in the browser (issue 15): the plan form as staff fill it in (本人の意向, its period in 和暦, 本人's
goals and the mother's) saved as a 下書き (not 「第0版」) and proposed; the 重層的支援会議 refuses to resume the plan it
suspended until consent is given again at intake, then resumes it and collaboration's page shows it in force again;
a plan whose goals are met moves to 伴走支援 with a dated check-in; a case the meeting returned to intake shows as
returned, with the primary agency named now, in collaboration (D11 across programs)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME
from support.poll import eventually

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .test_collaboration_ui import COUNTER_STAFF, escalate_a_case, post

COORDINATOR = staff_headers("fukushi-003", LEAD, "coordinator")
SECRETARIAT = staff_headers("kaigi-001", LEAD, "secretariat")
ATTENDEES = [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]
AGREE = [{"agency": a, "position": "agree"} for a in ATTENDEES]
ROLES = [{"agency": ELDERLY.ja, "responsibility": "母の介護サービスの調整"}]


async def on_collaboration(client: httpx.AsyncClient, suite: Suite, case_id: str) -> None:
    async def arrived() -> bool:
        return (await client.get(f"{suite.url('collaboration')}/cases/{case_id}")).status_code == 200

    await eventually(arrived, "the escalated case to reach collaboration")


async def listed(client: httpx.AsyncClient, suite: Suite, plan_id: str, status: str) -> None:
    async def there() -> bool:
        response = await client.get(f"{suite.url('meeting')}/agenda/{plan_id}", headers=SECRETARIAT)
        return response.status_code == 200 and response.json()["status"] == status

    await eventually(there, f"the plan to be {status} at the meeting")


async def owner_status(client: httpx.AsyncClient, suite: Suite, plan_id: str, status: str) -> None:
    async def there() -> bool:
        shown: str = (await client.get(f"{suite.url('collaboration')}/plans/{plan_id}")).json()["status"]
        return shown == status

    await eventually(there, f"the owner's plan to be {status}")


async def approved_plan(client: httpx.AsyncClient, suite: Suite, case_id: str, body: dict[str, Any]) -> tuple[str, str]:
    """Upstream over HTTP: a plan drafted, proposed and approved by a 重層的支援会議; (plan_id, meeting_id)."""
    collaboration, meeting = suite.url("collaboration"), suite.url("meeting")
    await on_collaboration(client, suite, case_id)
    plan_id = (await post(client, f"{collaboration}/cases/{case_id}/plans", body, COORDINATOR))["plan_id"]
    await post(client, f"{collaboration}/plans/{plan_id}/propose", None, COORDINATOR)
    await listed(client, suite, plan_id, "proposed")
    sitting = (await post(client, f"{meeting}/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-11-28",
                                                          "attendees": ATTENDEES}, SECRETARIAT))["meeting_id"]
    await post(client, f"{meeting}/meetings/{sitting}/decisions", {
        "plan_id": plan_id, "decision": "approved", "reasons": "合議で承認", "positions": AGREE}, SECRETARIAT)
    await owner_status(client, suite, plan_id, "approved")
    return plan_id, sitting


async def test_a_plan_filled_in_proposed_suspended_and_resumed_after_consent_given_again(ui_suite: Suite,
                                                                                       page: Page) -> None:
    collaboration, meeting, intake = ui_suite.url("collaboration"), ui_suite.url("meeting"), ui_suite.url("intake")
    case_id = await escalate_a_case(intake, "調布 一郎")
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    async with httpx.AsyncClient(headers=reader()) as client:
        await on_collaboration(client, ui_suite, case_id)

    # The plan form as staff fill it in: 本人の意向, the period in 和暦, 本人's goal, the mother's goal, a role.
    await page.goto(f"{collaboration}/ui/cases/{case_id}/plans/new")
    await page.get_by_label("支援の方向性").fill("母の介護負担を軽くし、本人の外出を段階的に支える")
    await page.get_by_label("本人の意向").fill("母と家で暮らし続けたい。少しずつ外に出たい")
    await page.get_by_label("開始日").fill("令和8年4月1日")
    await page.get_by_label("見直し予定日").fill("R8.10.1")
    await page.get_by_role("textbox", name="目標1").fill("週1回、近所に外出する")
    await page.get_by_role("button", name=re.compile("世帯員を追加")).click()
    member = page.get_by_role("group", name="世帯員1", exact=True)
    await member.get_by_role("textbox", name=re.compile("^世帯員")).fill("母")
    await member.get_by_label("目標（1行に1つ）").fill("介護サービスを週2回使う")
    await page.get_by_role("group", name="役割1").get_by_role("textbox", name="役割").fill("母の介護サービスの調整")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.get_by_role("alert")).to_contain_text("下書き保存")

    # A draft is 下書き, never 「第0版」; the form keeps what was filled in.
    await expect(page).to_have_title(re.compile("プラン 下書き"))
    await expect(page.locator("#plan-status")).to_have_text("下書き")
    await expect(page.locator("body")).not_to_contain_text("第0版")
    await expect(page.get_by_label("本人の意向")).to_have_value("母と家で暮らし続けたい。少しずつ外に出たい")
    await expect(page.get_by_label("開始日")).to_have_value("令和8年4月1日")  # as typed (HD session 24: the editor gives the period in 和暦)
    await expect(page.get_by_role("group", name="世帯員1").get_by_role("textbox", name=re.compile("^世帯員"))).to_have_value("母")
    await shoot(page, "plan-form-draft")
    found = re.search(r"/ui/plans/([0-9a-f-]{36})", page.url)
    assert found, page.url
    plan_id = found.group(1)
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第1版を会議へ提出")
    await expect(page.locator("#period-shown")).to_contain_text("令和8年4月1日")
    await expect(page.locator("#intention-shown")).to_have_text("母と家で暮らし続けたい。少しずつ外に出たい")

    async with httpx.AsyncClient(headers=reader()) as client:
        await listed(client, ui_suite, plan_id, "proposed")
        agenda = (await client.get(f"{meeting}/agenda/{plan_id}")).json()
        assert agenda["goals"] == ["週1回、近所に外出する", "介護サービスを週2回使う"]  # every person's goal is evaluated
        assert "母と家で" not in str(agenda)  # the intention stays with its owner
        # The meeting approves it, its owner asks for closure, the meeting suspends it (consent withdrawn).
        sitting = (await post(client, f"{meeting}/meetings", {"meeting_type": "jusou_shien_kaigi",
                                                               "held_on": "2026-11-28", "attendees": ATTENDEES},
                              SECRETARIAT))["meeting_id"]
        await post(client, f"{meeting}/meetings/{sitting}/decisions", {
            "plan_id": plan_id, "decision": "approved", "reasons": "合議で承認", "positions": AGREE}, SECRETARIAT)
        await owner_status(client, ui_suite, plan_id, "approved")
        await post(client, f"{collaboration}/plans/{plan_id}/closure-request", {"progress": "本人が入院し同意を撤回"},
                   COORDINATOR)
        await listed(client, ui_suite, plan_id, "closure_requested")
        await post(client, f"{meeting}/meetings/{sitting}/evaluations", {
            "plan_id": plan_id, "outcome": "suspended", "course": "入院", "result": "中断", "reason": "本人の入院",
            "goal_results": [{"goal": g, "result": "not_achieved"} for g in agenda["goals"]]}, SECRETARIAT)
        await owner_status(client, ui_suite, plan_id, "suspended")

    # The secretariat tries to resume it before consent was given again: refused, saying why.
    await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
    await page.goto(f"{meeting}/ui/meetings/{sitting}")
    item = page.locator(f"#suspended-{plan_id[:8]}")
    await expect(item).to_contain_text("中断の後に本人同意があらためて記録されていません")
    await item.get_by_label("再開の理由").fill("退院し、本人が再び支援を希望")
    await item.get_by_role("button", name=re.compile("プランを再開")).click()
    await expect(page.locator(f"#error-resume-{plan_id[:8]}")).to_contain_text("中断の後に本人同意があらためて記録されていません")
    await expect(item.get_by_label("再開の理由")).to_have_value("退院し、本人が再び支援を希望")  # kept as typed
    await shoot(page, "meeting-resume-refused")

    # Consent given again at the counter; then the 重層的支援会議 resumes the plan.
    async with httpx.AsyncClient(headers=reader()) as client:
        await post(client, f"{intake}/cases/{case_id}/consent",
                   {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)


    async def heard_again() -> bool:  # the page says so once the meeting heard it (ConsentRecorded)
        await page.goto(f"{meeting}/ui/meetings/{sitting}")
        return await item.locator(".badge.ok").count() > 0

    await eventually(heard_again, "the meeting to hear the consent given again")
    await expect(item).to_contain_text("中断後に本人同意あり")
    await item.get_by_label("再開の理由").fill("退院し、本人が再び支援を希望")
    await item.get_by_role("button", name=re.compile("プランを再開")).click()
    await expect(page.get_by_role("alert")).to_contain_text("プランを再開しました")
    await expect(page.locator("#minutes")).to_contain_text("再開")
    await expect(page.locator(f"#suspended-{plan_id[:8]}")).to_have_count(0)
    await shoot(page, "meeting-resumed")

    # Its owner sees the plan in force again.
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    await page.goto(f"{collaboration}/ui/plans/{plan_id}")
    await expect(page.locator("#plan-status")).to_have_text("再開（実施中）", timeout=10_000)
    await expect(page.locator("table.history")).to_contain_text("重層的支援会議で再開")
    await shoot(page, "plan-resumed")


async def test_a_plan_whose_goals_are_met_moves_to_accompaniment_with_a_check_in(ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "調布 二郎")
    async with httpx.AsyncClient(headers=reader()) as client:
        plan_id, _ = await approved_plan(client, ui_suite, case_id, {
            "support_direction": "本人の外出を支える", "goals": ["週1回外出する"], "roles": ROLES,
            "members": [{"label": "母", "goals": ["介護サービスを使う"]}]})
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    await page.goto(f"{collaboration}/ui/plans/{plan_id}")
    form = page.locator("#accompany")

    # One goal not ticked: refused, naming it.
    await form.get_by_label("週1回外出する").check()
    await form.get_by_label("伴走支援の開始日").fill("令和8年11月1日")
    await form.get_by_role("button", name=re.compile("伴走支援に移る")).click()
    await expect(page.locator("#accompany-error")).to_contain_text("未達成: 介護サービスを使う")

    await form.get_by_label("週1回外出する").check()
    await form.get_by_label("介護サービスを使う").check()
    await form.get_by_label("伴走支援の開始日").fill("令和8年11月1日")
    await form.get_by_role("button", name=re.compile("伴走支援に移る")).click()
    await expect(page.locator("#plan-status")).to_have_text("伴走支援中")
    await expect(page.locator("#check-ins")).to_contain_text("令和8年11月1日")

    # A check-in before 伴走支援 began is refused; one after it is recorded with its date.
    check_ins = page.locator("#check-ins")
    await check_ins.get_by_label("見守りの日").fill("2026-10-31")
    await check_ins.get_by_role("button", name=re.compile("見守りを記録")).click()
    await expect(page.locator("#check-in-error")).to_contain_text("伴走支援の開始日")
    await check_ins.get_by_label("見守りの日").fill("R8.11.20")
    await check_ins.get_by_label("方法").select_option("訪問")
    await check_ins.get_by_label("様子").fill("母と落ち着いて暮らしている")
    await check_ins.get_by_role("button", name=re.compile("見守りを記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("見守りを記録しました")
    row = page.locator("table.check-ins tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("令和8年11月20日")
    await expect(row).to_contain_text("訪問")
    # Not 終結: it leaves 伴走支援 by a closure request or a new plan, both offered.
    await expect(page.locator("#closure")).to_be_visible()
    await expect(page.locator("#editor")).to_contain_text("新しいプランを立てる")
    await shoot(page, "plan-accompanying")


async def test_a_case_returned_to_intake_shows_as_returned_in_collaboration(ui_suite: Suite, page: Page) -> None:
    collaboration, meeting = ui_suite.url("collaboration"), ui_suite.url("meeting")
    case_id = await escalate_a_case(ui_suite.url("intake"), "調布 三郎")
    async with httpx.AsyncClient(headers=reader()) as client:
        await on_collaboration(client, ui_suite, case_id)
        plan_id = (await post(client, f"{collaboration}/cases/{case_id}/plans", {
            "support_direction": "家計を立て直す", "goals": ["家計簿をつける"], "roles": ROLES}, COORDINATOR))["plan_id"]
        await post(client, f"{collaboration}/plans/{plan_id}/propose", None, COORDINATOR)
        await listed(client, ui_suite, plan_id, "proposed")
        sitting = (await post(client, f"{meeting}/meetings", {"meeting_type": "jusou_shien_kaigi",
                                                               "held_on": "2026-11-28", "attendees": ATTENDEES},
                              SECRETARIAT))["meeting_id"]
        await post(client, f"{meeting}/meetings/{sitting}/decisions", {
            "plan_id": plan_id, "decision": "returned_to_intake", "reasons": "生活困窮の窓口で対応できる",
            "positions": AGREE, "primary_agency": HARDSHIP.ja}, SECRETARIAT)

    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    # the list filtered to 相談窓口へ戻し, as staff find it: unfiltered, the suite's other tests' cases (54 in CI, 50 a
    # page, those waiting for a plan first) put it on the second page
    await page.goto(f"{collaboration}/ui/?status=returned")
    row = page.locator(f"#cases tr[data-case='{case_id}']")
    await expect(row).to_contain_text("窓口へ戻した", timeout=10_000)
    await expect(row).to_contain_text(HARDSHIP.ja)
    await expect(row).not_to_contain_text("プランを作成")
    await row.get_by_role("link", name=case_id[:8]).click()
    await expect(page.locator("#primary")).to_have_text(HARDSHIP.ja)
    await expect(page.locator("#returned")).to_contain_text("相談窓口へ戻しました")
    await expect(page.get_by_role("link", name=re.compile("プランを作成"))).to_have_count(0)
    await shoot(page, "collaboration-case-returned")
