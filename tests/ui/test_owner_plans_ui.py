"""Plans of outreach and participation through their own pages (issue 15, shared/web/plan_pages.py): an outreach
worker drafts a plan from the engagement's page (本人の意向, the period in 和暦, goals, a role), saves it as a 下書き
and proposes it; the 重層的支援会議 approves it (and connects the person to participation) through the API; the page
shows it approved, the worker asks for closure, the meeting continues it and the page shows the next review date;
the printed plan carries the municipality's header. A participation worker drafts and proposes a plan from the
support's page, sees the meeting's revision request, revises and proposes again; once approved, moves it to
伴走支援 and records a dated 見守り check-in (和暦). A contact's date (接触日) is typed in 和暦 too."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import OUTREACH_WORKER
from support.municipality import LEAD, SHAKYO
from support.poll import eventually

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .test_collaboration_ui import escalate_a_case, post
from .test_plan_resume_accompany_ui import AGREE, ATTENDEES, SECRETARIAT


async def plan_status(client: httpx.AsyncClient, url: str, plan_id: str, status: str) -> None:
    async def there() -> bool:
        response = await client.get(f"{url}/plans/{plan_id}")
        return response.status_code == 200 and response.json()["status"] == status

    await eventually(there, f"the plan to be {status} at {url}")


async def fill_plan(page: Page, direction: str, goal: str, agency: str, responsibility: str) -> None:
    await page.get_by_label("支援の方向性").fill(direction)
    await page.get_by_label("本人の意向").fill("自分のペースで外に出たい")
    await page.get_by_label("開始日").fill("令和8年12月1日")
    await page.get_by_label("見直し予定日").fill("R9.3.1")
    await page.get_by_role("textbox", name="目標1").fill(goal)
    role = page.get_by_role("group", name="役割1")
    await role.locator("input[name=role_agency]").fill(agency)
    await role.get_by_role("textbox", name="役割").fill(responsibility)


def plan_id_of(page: Page) -> str:
    found = re.search(r"/ui/plans/([0-9a-f-]{36})", page.url)
    assert found, page.url
    return found.group(1)


async def decide(client: httpx.AsyncClient, meeting: str, sitting: str, plan_id: str, decision: str,
                 **extra: Any) -> None:
    await eventually(lambda: agenda_has(client, meeting, plan_id), "the plan on the meeting's agenda")
    await post(client, f"{meeting}/meetings/{sitting}/decisions", {
        "plan_id": plan_id, "decision": decision, "reasons": extra.pop("reasons", "合議で承認"), "positions": AGREE,
        **extra}, SECRETARIAT)


async def agenda_has(client: httpx.AsyncClient, meeting: str, plan_id: str) -> bool:
    response = await client.get(f"{meeting}/agenda/{plan_id}", headers=SECRETARIAT)
    return response.status_code == 200 and response.json()["status"] == "proposed"


async def test_outreach_and_participation_plans_through_their_pages(ui_suite: Suite, page: Page) -> None:
    intake, meeting = ui_suite.url("intake"), ui_suite.url("meeting")
    outreach, participation = ui_suite.url("outreach"), ui_suite.url("participation")
    case_id = await escalate_a_case(intake, "調布 三郎")
    async with httpx.AsyncClient(headers=reader()) as client:
        await post(client, f"{outreach}/engagements", {"case_id": case_id, "referred_by": "民生委員・児童委員",
                                                       "reason": "訪問しても会えない"}, OUTREACH_WORKER)
        sitting = (await post(client, f"{meeting}/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-03",
                                                               "attendees": ATTENDEES}, SECRETARIAT))["meeting_id"]

    # Outreach: 「プランを作成」 on the engagement's page, the editor, 下書き (never 「第0版」), then proposed.
    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    await page.goto(f"{outreach}/ui/engagements/{case_id}")
    await expect(page.locator("#plans")).to_contain_text("まだプランはありません")
    # 接触日 typed in 和暦 (the form offers today): the log keeps the day the contact took place.
    await page.get_by_label("接触日").fill("令和8年11月30日")
    await page.get_by_label("方法 / method").select_option("訪問")
    await page.get_by_label("会えた・話せた").check()
    await page.get_by_label("関係の段階（記録後）").select_option("接触")
    await page.get_by_role("button", name=re.compile("接触を記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("接触を記録しました")
    await expect(page.locator("#contact-log tbody tr").first).to_contain_text("令和8年11月30日")
    await page.get_by_role("link", name=re.compile("プランを作成")).click()
    await expect(page.get_by_role("heading", name=re.compile("プランの作成"))).to_be_visible()
    await fill_plan(page, "手紙と訪問で関係をつくり、外出のきっかけを探す", "月2回の訪問で話ができる", SHAKYO,
                    "訪問と居場所の紹介")
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.get_by_role("alert")).to_contain_text("下書き保存")
    await expect(page).to_have_title(re.compile("プラン 下書き"))
    await expect(page.locator("#plan-status")).to_have_text("下書き")
    await expect(page.locator("body")).not_to_contain_text("第0版")
    await expect(page.get_by_label("開始日")).to_have_value("令和8年12月1日")  # as typed (HD session 24: the editor gives the period in 和暦)
    outreach_plan = plan_id_of(page)
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第1版を会議へ提出")
    await expect(page.locator("#period-shown")).to_contain_text("令和8年12月1日")

    # The meeting approves it and connects the person to participation (API): the page shows it approved.
    async with httpx.AsyncClient(headers=reader()) as client:
        await decide(client, meeting, sitting, outreach_plan, "approved", connect_to=["participation"])
        await plan_status(client, outreach, outreach_plan, "approved")
    await page.reload()
    await expect(page.locator("#plan-status")).to_have_text("承認")
    await expect(page.locator("table.history")).to_contain_text("重層的支援会議の決定: 承認")
    await page.get_by_label("これまでの経過").fill("月2回の訪問で話せるようになった")
    await page.get_by_role("button", name=re.compile("終結の評価を依頼")).click()
    await expect(page.locator("#plan-status")).to_have_text("終結評価待ち")
    async with httpx.AsyncClient(headers=reader()) as client:
        await eventually(lambda: closure_awaited(client, meeting, outreach_plan), "the closure request at the meeting")
        await post(client, f"{meeting}/meetings/{sitting}/evaluations", {
            "plan_id": outreach_plan, "outcome": "continued", "course": "訪問を継続", "result": "会話ができる",
            "next_review_on": "2027-03-01",
            "goal_results": [{"goal": "月2回の訪問で話ができる", "result": "partly_achieved"}]}, SECRETARIAT)
        await plan_status(client, outreach, outreach_plan, "continued")
    await page.reload()
    await expect(page.locator("#plan-status")).to_have_text("継続")
    await expect(page.locator("#next-review")).to_contain_text("令和9年3月1日")
    await page.goto(f"{outreach}/ui/plans/{outreach_plan}/print")
    header = page.locator(".doc-head")
    await expect(header).to_contain_text("重層的支援体制整備事業")
    await expect(header).to_contain_text("アウトリーチ等を通じた継続的支援事業")
    await shoot(page, "outreach-plan-print")
    await page.goto(f"{outreach}/ui/engagements/{case_id}")
    await expect(page.locator(f"#plans tr[data-plan='{outreach_plan}']")).to_contain_text("継続")

    # Participation: the support the meeting started; a plan proposed, sent back for revision, revised, approved.
    async with httpx.AsyncClient(headers=reader()) as client:
        await eventually(lambda: support_open(client, participation, case_id), "participation to start the support")
    await sign_in(page, participation, "sanka-002", LEAD, "participation_worker")
    await page.goto(f"{participation}/ui/supports/{case_id}")
    await page.get_by_role("link", name=re.compile("プランを作成")).click()
    # Saved with nothing filled in: refused in words, on the editor (nothing drafted).
    await page.get_by_role("button", name=re.compile("下書き保存")).click()
    await expect(page.locator("#plan-error")).to_contain_text("支援の方向性")
    await expect(page.get_by_role("heading", name=re.compile("プランの作成"))).to_be_visible()
    await fill_plan(page, "居場所への参加を通じて生活のリズムをつくる", "週1回、居場所に通う", SHAKYO,
                    "居場所の紹介と同行")
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第1版を会議へ提出")
    support_plan = plan_id_of(page)
    async with httpx.AsyncClient(headers=reader()) as client:
        await decide(client, meeting, sitting, support_plan, "revision_requested", reasons="通う曜日を本人と決めてください")
        await plan_status(client, participation, support_plan, "revision_requested")
    await page.reload()
    await expect(page.locator("#revision-request")).to_contain_text("通う曜日を本人と決めてください")
    await page.get_by_role("textbox", name="目標1").fill("毎週水曜日、居場所に通う")
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第2版を会議へ提出")
    async with httpx.AsyncClient(headers=reader()) as client:
        await decide(client, meeting, sitting, support_plan, "approved")
        await plan_status(client, participation, support_plan, "approved")

    # 伴走支援: every goal met, a 見守り check-in dated in 和暦.
    await page.reload()
    await expect(page.locator("#plan-status")).to_have_text("承認")
    await page.get_by_label("毎週水曜日、居場所に通う").check()
    await page.get_by_label("伴走支援の開始日").fill("令和8年12月20日")
    await page.get_by_role("button", name=re.compile("伴走支援に移る")).click()
    await expect(page.locator("#plan-status")).to_have_text("伴走支援中")
    await page.get_by_label("見守りの日").fill("R9.1.10")
    await page.get_by_label("方法 / how").select_option("電話")
    await page.get_by_label("様子 / how the person is").fill("水曜日の居場所に通い続けている")
    await page.get_by_role("button", name=re.compile("見守りを記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("見守りを記録しました")
    check_ins = page.locator("table.check-ins tbody tr")
    await expect(check_ins).to_have_count(1)
    await expect(check_ins.first).to_contain_text("令和9年1月10日")
    await shoot(page, "participation-plan-accompanying")


async def closure_awaited(client: httpx.AsyncClient, meeting: str, plan_id: str) -> bool:
    response = await client.get(f"{meeting}/agenda/{plan_id}", headers=SECRETARIAT)
    return response.status_code == 200 and response.json()["status"] == "closure_requested"


async def support_open(client: httpx.AsyncClient, participation: str, case_id: str) -> bool:
    return (await client.get(f"{participation}/supports/{case_id}")).status_code == 200
