"""The meeting secretariat in the browser, with the coordinator beside it: a plan drafted and proposed in
collaboration's pages reaches the live agenda; the meeting is convened; a decision with every attendee's
position (an objection blocks approval, not the revision request; the minutes keep it as given); revision requested → revised → approved; closure requested →
evaluated goal by goal → collaboration's open page shows 終結 without reloading. Then the rules around
consent (D9) and the 支援会議's confidentiality (D10), a resource gap (D8), minutes and CSV."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from support.auth import reader, staff_headers
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD, LEAD_NAME, concern
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in

pytestmark = pytest.mark.own_suite  # it reads whole lists (会議一覧) and receives people with names like others

# by role, from the municipality file in force (support/municipality.py): Chofu's 高齢者支援室 and 福祉総務課,
# its 地域包括支援センター and 調布ライフサポート
COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
COORDINATOR = staff_headers("fukushi-003", LEAD, "coordinator")
ATTENDEES = [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]
LIFE = HARDSHIP.ja  # the attendee who objects


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{url}: {response.status_code} {response.text}"
    result: dict[str, Any] = response.json()
    return result


async def escalate_a_case(intake: str, name: str, consent: bool) -> str:
    """Upstream, not the point here: a counter receives a consultation and escalates it (intake's API)."""
    async with httpx.AsyncClient(headers=reader()) as client:
        case = await post(client, f"{intake}/consultations", {
            "counter": ELDERLY.code, "channel": "訪問", "concerns": [concern("elderly-care"), concern("hikikomori")],
            "person": {"name": name}, "confirm_new_person": True}, COUNTER_STAFF)
        case_id: str = case["case_id"]
        if consent:
            await post(client, f"{intake}/cases/{case_id}/consent",
                       {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        await post(client, f"{intake}/cases/{case_id}/escalate",
                   {"reason": "母の介護と息子のひきこもりが重なる", "primary_agency": ELDERLY.ja}, COUNTER_STAFF)
    return case_id


async def convene(page: Page, meeting: str, kind: str | re.Pattern[str], attendees: list[str]) -> None:
    await page.goto(f"{meeting}/ui/#convene")
    await page.get_by_role("radio", name=kind).check()
    await page.get_by_label("開催日").fill("2026-11-28")
    for agency in attendees:
        await page.get_by_label(agency, exact=True).check()
    await page.get_by_role("button", name=re.compile("開催する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("開催しました")


async def positions(form: Locator, chosen: dict[str, str], reasons: dict[str, str] | None = None) -> None:
    for agency, position in chosen.items():
        row = form.get_by_role("group", name=agency, exact=True)
        await row.get_by_role("radio", name="異議" if position == "object" else "賛成").check()
        await row.get_by_label("異議の理由").fill((reasons or {}).get(agency, ""))


async def test_a_plan_from_proposal_to_closure_through_the_pages(ui_suite: Suite, page: Page) -> None:
    case_id = await escalate_a_case(ui_suite.url("intake"), "調布 花子", consent=True)
    # Two people at two desks: the coordinator (福祉総務課) and the meeting's secretariat, each signed in.
    browser = page.context.browser
    assert browser is not None
    desk = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    try:
        await journey(ui_suite, page, await desk.new_page(), case_id)
    finally:
        await desk.close()


async def journey(ui_suite: Suite, page: Page, coordinator: Page, case_id: str) -> None:
    collaboration, meeting = ui_suite.url("collaboration"), ui_suite.url("meeting")

    # The coordinator drafts a plan with two goals and two roles and proposes it.
    await sign_in(coordinator, collaboration, "fukushi-003", LEAD, "coordinator")
    row = coordinator.locator(f"#cases tr[data-case='{case_id}']")
    await expect(row).to_be_visible(timeout=10_000)
    await row.get_by_role("link", name="プランを作成").click()
    await script_ready(coordinator, url=re.compile(r"/plans/new$"))  # the rows' buttons are jusou.js's
    await coordinator.get_by_label("支援の方向性").fill("母の介護負担を軽くし、息子の社会参加を段階的に支える")
    await coordinator.get_by_role("textbox", name="目標1").fill("月1回の訪問で息子と会える関係をつくる")
    await coordinator.get_by_role("button", name=re.compile("目標を追加")).click()
    await coordinator.locator("#goal-rows input").nth(1).fill("母の介護サービスを見直す")
    role = coordinator.locator("#role-rows [data-row]").first
    await role.get_by_role("textbox", name="役割").fill("母の介護サービスの調整")
    await role.get_by_label("担当者").fill("山田")
    await coordinator.get_by_role("button", name=re.compile("役割を追加")).click()
    role = coordinator.locator("#role-rows [data-row]").nth(1)
    await role.get_by_label("機関").fill(LIFE)
    await role.get_by_role("textbox", name="役割").fill("家計の相談")
    await coordinator.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(coordinator.get_by_role("alert")).to_contain_text("第1版を会議へ提出しました")
    await script_ready(coordinator)  # its live part listens before the meeting decides (below)
    plan_url = coordinator.url.split("?")[0]
    plan_id = plan_url.rsplit("/", 1)[-1]

    # The secretariat sees it on the live agenda (already open), awaiting a decision, consent beside it (D9).
    await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
    item = page.locator(f"#agenda [data-status='proposed'] tr[data-plan='{plan_id}']")
    await expect(item).to_be_visible(timeout=10_000)
    await expect(item).to_contain_text("本人同意あり")
    await expect(item).to_contain_text("第1版")

    await convene(page, meeting, "重層的支援会議", ATTENDEES)
    await expect(page.locator("#attendees")).to_have_text("、".join(ATTENDEES))
    meeting_url = page.url.split("?")[0]

    # A decision with one position per attendee; an open objection blocks approval (what was typed stays) but not a
    # revision request, and the minutes keep the objection as given (issue 16).
    form = page.get_by_role("form", name=re.compile(f"決定.*{case_id[:8]}"))
    await positions(form, {LEAD_NAME: "agree", ELDERLY.ja: "agree", LIFE: "object"}, {LIFE: "家計の役割が曖昧です"})
    await form.get_by_role("radio", name="承認").check()
    await form.get_by_label("決定の理由").fill("家計支援の担当と頻度を明確にしてください")
    await shoot(page, "meeting-decision")
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    error = page.locator(f"#error-{plan_id[:8]}")
    await expect(error).to_contain_text(f"異議が残っているため承認できません: {LIFE}（家計の役割が曖昧です）")
    form = page.get_by_role("form", name=re.compile(f"決定.*{case_id[:8]}"))
    await expect(form.get_by_label("決定の理由")).to_have_value("家計支援の担当と頻度を明確にしてください")
    await expect(form.get_by_role("group", name=LIFE).get_by_role("radio", name="異議")).to_be_checked()
    await shoot(page, "meeting-objection-refused")
    # The objection stands; the meeting asks for a revision.
    await form.get_by_role("radio", name="修正依頼").check()
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("決定を記録しました: 修正依頼")
    decided = page.locator("#minutes li[data-kind='decision']")
    await expect(decided).to_contain_text("修正依頼")
    await expect(decided.locator("tr[data-position='object']")).to_contain_text(f"{LIFE}異議家計の役割が曖昧です")
    await script_ready(page)  # the meeting page's live note listens before the coordinator proposes again (below)

    # The coordinator's plan page, still open, shows the request live; they revise and propose again.
    await expect(coordinator.locator("#plan-status")).to_have_text("修正依頼", timeout=10_000)
    await expect(coordinator.locator("#revision-request")).to_contain_text("家計支援の担当と頻度を明確にしてください")
    await coordinator.get_by_role("link", name=re.compile("画面を更新して操作する")).click()
    await expect(coordinator.get_by_role("heading", name=re.compile("修正依頼を受けて修正する"))).to_be_visible()
    await script_ready(coordinator)  # the new page's add button is jusou.js's
    await coordinator.get_by_role("button", name=re.compile("目標を追加")).click()
    await coordinator.locator("#goal-rows input").nth(2).fill("息子が居場所に月2回通う")
    await coordinator.locator("#role-rows [data-row]").nth(1).get_by_role("textbox", name="役割").fill("家計の相談（月2回）")
    await coordinator.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(coordinator.get_by_role("alert")).to_contain_text("第2版を会議へ提出しました")
    await script_ready(coordinator)  # its live part listens before the meeting approves (below)

    # The secretariat's open meeting page says the agenda changed; the second revision is approved.
    await expect(page.get_by_role("link", name=re.compile("画面を更新する"))).to_be_visible(timeout=10_000)
    await page.get_by_role("link", name=re.compile("画面を更新する")).click()
    await expect(page.locator(f"section[data-plan='{plan_id}']")).to_contain_text("第2版")
    form = page.get_by_role("form", name=re.compile(f"決定.*{case_id[:8]}"))
    await positions(form, dict.fromkeys(ATTENDEES, "agree"))
    await form.get_by_role("radio", name="承認").check()
    await form.get_by_label("決定の理由").fill("役割分担が明確になった")
    await form.get_by_label("参加支援事業").check()
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("決定を記録しました: 承認")
    await shoot(page, "meeting-meeting")

    # The coordinator asks for closure.
    await expect(coordinator.locator("#plan-status")).to_have_text("承認", timeout=10_000)
    await coordinator.get_by_role("link", name=re.compile("画面を更新して操作する")).click()
    await coordinator.get_by_label("これまでの経過").fill("息子が居場所に定着し、母の介護も安定した")
    await coordinator.get_by_role("button", name=re.compile("終結の評価を依頼する")).click()
    await expect(coordinator.locator("#plan-status")).to_have_text("終結評価待ち")
    await script_ready(coordinator)  # its live part listens before the meeting evaluates (below)

    # The meeting evaluates goal by goal while the coordinator's page stays open.
    await page.goto(f"{meeting}/ui/")
    await expect(page.locator(f"#agenda [data-status='closure_requested'] tr[data-plan='{plan_id}']")).to_be_visible(timeout=10_000)
    await shoot(page, "meeting-home")
    await page.goto(meeting_url)
    form = page.get_by_role("form", name=re.compile(f"終結評価.*{case_id[:8]}"))
    goals = ["月1回の訪問で息子と会える関係をつくる", "母の介護サービスを見直す", "息子が居場所に月2回通う"]
    await expect(form.locator(".goal-eval")).to_have_count(3)  # one row per goal of the plan (D7)
    await form.get_by_role("group", name=goals[0]).get_by_role("radio", name="達成", exact=True).check()
    await form.get_by_role("group", name=goals[1]).get_by_role("radio", name="一部達成").check()
    await form.get_by_role("group", name=goals[1]).get_by_label("経過・所見").fill("ショートステイは未利用")
    await form.get_by_label("支援の経過").fill("訪問12回、居場所に定着")
    await form.get_by_label("支援の成果").fill("本人の外出が増え、母の負担が減った")
    await form.get_by_label("終結 / close").check()
    await form.get_by_role("button", name=re.compile("評価を記録する")).click()
    await expect(page.locator(f"#error-{plan_id[:8]}")).to_contain_text("目標ごとに達成度を選んでください: 息子が居場所に月2回通う")
    form = page.get_by_role("form", name=re.compile(f"終結評価.*{case_id[:8]}"))
    await expect(form.get_by_label("支援の経過")).to_have_value("訪問12回、居場所に定着")
    await form.get_by_role("group", name=goals[2]).get_by_role("radio", name="達成", exact=True).check()
    await shoot(page, "meeting-evaluation")
    started = time.monotonic()
    await form.get_by_role("button", name=re.compile("評価を記録する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("終結評価を記録しました: 終結")

    # Collaboration's open page shows 終結 without reloading (PlanClosed over NATS, then the page's SSE).
    await expect(coordinator.locator("#plan-status")).to_have_text("終結", timeout=5_000)
    print(f"\nlive update: 終結 shown on collaboration's open page {time.monotonic() - started:.2f}s after the click")
    await expect(coordinator.locator("tr[data-event='Evaluated']")).to_contain_text("一部達成")
    await expect(coordinator.locator("tr[data-event='Revised']")).to_contain_text("fukushi-003")
    await shoot(coordinator, "collaboration-plan-closed")

    # Page loads, measured by the browser (navigation start to load event): printed, not asserted (a figure of the
    # machine's load, which a test must not judge; the benches measure speed).
    for who, url in ((coordinator, plan_url), (page, meeting_url), (page, f"{meeting}/ui/")):
        await who.goto(url)
        loaded = await who.evaluate("performance.getEntriesByType('navigation')[0].duration")
        print(f"page load: {url.split('/ui/')[1] or 'agenda'} {loaded:.0f} ms")
        assert loaded > 0, f"{url}: the browser recorded no completed navigation"
    await page.goto(meeting_url)

    # The minutes, on the page and printable.
    minutes = page.locator("#minutes")
    await expect(minutes.locator("li[data-kind='decision']")).to_have_count(2)
    await expect(minutes.locator("li[data-kind='evaluation']")).to_contain_text("ショートステイは未利用")
    await page.get_by_role("link", name=re.compile("会議録を印刷")).click()
    document = page.get_by_role("article", name="会議録")
    await expect(document).to_contain_text("重層的支援会議 会議録")
    await expect(document).to_contain_text("令和8年11月28日")
    # each position as given: the objection under 異議 in the revision request, 賛成 in the approval
    await expect(document.locator("li[data-kind='decision']").first.locator("tr[data-position='object']")).to_contain_text(LIFE)
    await expect(document.locator("li[data-kind='decision']").last.locator("tr[data-position='agree']")).to_have_count(3)
    await shoot(page, "meeting-minutes-print")


async def test_consent_confidentiality_gaps_and_csv(ui_suite: Suite, page: Page) -> None:
    collaboration, meeting = ui_suite.url("collaboration"), ui_suite.url("meeting")
    # Upstream: a case escalated without consent, its plan proposed (collaboration's API).
    case_id = await escalate_a_case(ui_suite.url("intake"), "調布 三郎", consent=False)
    async with httpx.AsyncClient(headers=reader()) as client:
        for _ in range(100):
            if (await client.get(f"{collaboration}/cases/{case_id}")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        plan = await post(client, f"{collaboration}/cases/{case_id}/plans", {
            "support_direction": "支援会議で関係機関の情報を集め、本人との関係をつくる", "goals": ["本人と会える関係をつくる"],
            "roles": [{"agency": ELDERLY.ja, "responsibility": "母への訪問"},
                      {"agency": LEAD_NAME, "responsibility": "関係機関の調整"}]}, COORDINATOR)
        await post(client, f"{collaboration}/plans/{plan['plan_id']}/propose", None, COORDINATOR)

    await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
    item = page.locator(f"#agenda tr[data-plan='{plan['plan_id']}']")
    await expect(item).to_be_visible(timeout=10_000)
    await expect(item).to_contain_text("本人同意なし")
    await expect(item).to_contain_text("支援会議で検討")

    # Convening without attendees is refused in words, the type and date kept.
    await page.goto(f"{meeting}/ui/#convene")
    await page.get_by_role("radio", name=re.compile("^支援会議")).check()
    await page.get_by_role("button", name=re.compile("開催する")).click()
    await expect(page.locator("#convene-error")).to_contain_text("出席機関を1つ以上選んでください")
    await expect(page.get_by_role("radio", name=re.compile("^支援会議"))).to_be_checked()

    # D9: the 重層的支援会議 refuses a case without consent and says to use the 支援会議.
    await convene(page, meeting, "重層的支援会議", [LEAD_NAME, ELDERLY.ja])
    section = page.locator(f"section[data-plan='{plan['plan_id']}']")
    await expect(section.locator(".consent-status")).to_contain_text("本人同意なし")
    await expect(section).to_contain_text("支援会議で検討してください")
    form = section.get_by_role("form")
    await positions(form, {LEAD_NAME: "agree", ELDERLY.ja: "agree"})
    await form.get_by_role("radio", name="承認").check()
    await form.get_by_label("決定の理由").fill("役割分担に合意")
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    await expect(page.locator(f"#error-{plan['plan_id'][:8]}")).to_contain_text(
        "本人同意がないため重層的支援会議では扱えません（窓口で記録したばかりなら、会議にまだ届いていないだけです")
    await shoot(page, "meeting-consent-refused")
    await section.get_by_role("link", name=re.compile("支援会議を開催する")).click()
    await expect(page.get_by_role("radio", name=re.compile("^支援会議"))).to_be_checked()

    # D10: the 支援会議 may work the case without consent.
    await convene(page, meeting, re.compile("^支援会議"), [LEAD_NAME, ELDERLY.ja])
    await expect(page.get_by_role("note").first).to_contain_text("守秘義務")
    support_meeting = page.url.split("?")[0]
    # On a tablet the meeting page, with its one-row-per-attendee form, stays inside the screen.
    await page.set_viewport_size({"width": 768, "height": 1024})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, f"the meeting page scrolls sideways on a tablet ({width}px)"
    await shoot(page, "meeting-meeting-tablet")
    await page.set_viewport_size({"width": 1280, "height": 800})
    form = page.locator(f"section[data-plan='{plan['plan_id']}']").get_by_role("form")
    await positions(form, {LEAD_NAME: "agree", ELDERLY.ja: "agree"})
    # (the 支援会議 shares information and asks for revisions; only the 重層的支援会議 approves a plan)
    await form.get_by_role("radio", name="修正依頼").check()
    await form.get_by_label("決定の理由").fill("支援会議で役割分担を確認。本人同意を得たら重層的支援会議へ")
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("決定を記録しました: 修正依頼")

    # D8: a need without a local resource, recorded as a regional issue.
    gap = page.locator("#gap")
    await gap.get_by_role("button", name=re.compile("地域の課題として記録")).click()
    await expect(page.locator("#error-gap")).to_contain_text("すべて入力してください")
    gap = page.locator("#gap")
    await gap.get_by_label("ケース").select_option(case_id)
    await gap.get_by_label("不足している資源").fill("居場所")
    await gap.get_by_label("地域").fill("調布市東部")
    await gap.get_by_label("内容").fill("ひきこもりの若者が日中に通える居場所が近くにない")
    await gap.get_by_role("button", name=re.compile("地域の課題として記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("地域の課題として記録しました")
    await expect(page.locator("#minutes li[data-kind='resource_gap']")).to_contain_text("居場所（調布市東部）")
    await shoot(page, "meeting-support-meeting")

    # D10: the 支援会議 takes up a case without a plan (its members may then read the person at intake).
    await expect(page.locator("#taken-up")).to_contain_text(case_id[:8])  # deciding on its plan took it up
    other_case = await escalate_a_case(ui_suite.url("intake"), "調布 七郎", consent=False)
    take_up = page.locator("#take-up")
    await take_up.get_by_label("ケース番号").fill("not-a-case")
    await take_up.get_by_role("button", name=re.compile("議題にする")).click()
    await expect(page.locator("#error-take-up")).to_contain_text("ケース番号")
    take_up = page.locator("#take-up")
    await take_up.get_by_label("ケース番号").fill(other_case)
    await take_up.get_by_role("button", name=re.compile("議題にする")).click()
    await expect(page.get_by_role("alert")).to_contain_text("ケースを議題にしました")
    await expect(page.locator("#taken-up")).to_contain_text(other_case[:8])

    # The meetings list, by type, dates in 和暦.
    await page.goto(f"{meeting}/ui/")
    await expect(page.locator("#meetings [data-type='shien_kaigi']")).to_contain_text("令和8年11月28日 (2026-11-28)")
    await expect(page.locator("#meetings [data-type='jusou_shien_kaigi'] tbody tr")).not_to_have_count(0)
    # Issue 15: the agenda filtered by status; 会議一覧 by type and 開催日, a page at a time; 事例集 by 開催日.
    await page.goto(f"{meeting}/ui/?status=closure_requested")
    await expect(page.locator("#agenda [data-status='proposed']")).to_have_count(0)
    await expect(page.locator("#agenda .pager .count")).to_contain_text(re.compile(r"^(0件 / no items|[0-9]+件中 .*)$"))
    await page.goto(f"{meeting}/ui/")
    await page.locator("#all-meetings").click()
    await page.locator("form.filters select[name=type]").select_option("shien_kaigi")
    await page.get_by_role("button", name=re.compile("絞り込む")).click()
    await expect(page.locator("#meetings [data-type='jusou_shien_kaigi']")).to_have_count(0)
    await expect(page.locator("#meetings [data-type='shien_kaigi']")).to_contain_text("令和8年11月28日")
    await page.goto(f"{meeting}/ui/meetings?to=2000-01-01")
    await expect(page.locator("#meetings .pager .count")).to_have_text("0件 / no items")
    await page.goto(f"{meeting}/ui/meetings?per_page=1")
    await expect(page.locator("#meetings .pager .count")).to_contain_text("中 1–1件")
    await page.locator("#meetings a[rel=next]").click()
    await expect(page.locator("#meetings .pager")).to_contain_text("2 / ")
    await page.goto(f"{meeting}/ui/learnings?to=2000-01-01")
    await expect(page.locator("#found-count")).to_have_text("0件 / found")
    await shoot(page, "meeting-home-meetings")

    # D10: a 支援会議's records are for its members only; anyone else gets the refusal as a page.
    await sign_in(page, meeting, "hoiku-3", CHILDCARE.division, "counselor")
    response = await page.goto(support_meeting)
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name=re.compile("構成員のみ"))).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("支援会議の記録は守秘義務のある構成員のみ閲覧できます")
    response = await page.goto(support_meeting + "/print")
    assert response is not None and response.status == 403
    await shoot(page, "meeting-confidential-refused")

    async with httpx.AsyncClient(headers=reader()) as client:
        response = await client.get(f"{meeting}/ui/agenda.csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Japanese correctly
    assert response.text.lstrip("\ufeff").splitlines()[0].startswith("状態,ケース番号,プラン番号,事業")
    assert "\r\n" in response.text
