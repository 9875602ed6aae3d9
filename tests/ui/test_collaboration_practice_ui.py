"""Issue 16 in the browser, one walk: a 地域福祉コーディネーター brings a gap to the council; 課題の解きほぐし (strands recorded on the case page, the plan form's roles
come from them, a plan refused at the meeting's door while a strand has no agency, then proposed) and the
相談支援包括化推進会議 (a gap the 重層的支援会議 named awaits it; a sitting with its attendees takes it up and
decides a request to a division; the refusal of an incomplete decision keeps what was typed). The case list
pages and filters with the shared pager and filter bar."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, LEAD, LEAD_NAME, SHAKYO, division_name, partner
from support.poll import eventually

from jusou.runner import Suite

from .conftest import shoot, sign_in
from .test_collaboration_ui import escalate_a_case
from .upstream import resource_gap

pytestmark = pytest.mark.own_suite  # it reads the 推進会議's whole list of gaps (「0件中」 when its own are taken up)

GAP_NEED = "ひきこもりの若者が日中に通える居場所"
CSW_NEED = "坂の多い地区の買い物支援"


async def test_strands_make_the_plan_roles_and_the_council_decides_a_gap(ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "布田 花子")
    async with httpx.AsyncClient(headers=reader()) as client:
        await resource_gap(ui_suite, client, case_id, GAP_NEED, "調布市東部", "東部に日中の居場所がない")
    # A 地域福祉コーディネーター brings a gap found in the community to the council; holding a sitting is not theirs.
    await sign_in(page, collaboration, "csw-001", LEAD, "welfare_coordinator")
    await page.goto(f"{collaboration}/ui/council")
    await page.get_by_label(re.compile("不足している資源")).fill(CSW_NEED)
    await page.get_by_label(re.compile("地域 / area")).fill("深大寺地区")
    await page.get_by_role("button", name=re.compile("推進会議に挙げる")).click()
    await expect(page.get_by_role("alert")).to_contain_text("推進会議の課題に挙げました")
    await expect(page.locator("#gap-table tbody tr", has_text=CSW_NEED)).to_contain_text("地域福祉コーディネーター")
    await expect(page.get_by_role("button", name=re.compile("開催を記録"))).to_have_count(0)

    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")

    # The list: the shared filter bar and pager; narrowed to cases without a plan, the new case is there.
    await expect(page.locator("#cases .pager .count")).to_contain_text("件中")
    await page.get_by_label("状態 / status").select_option(label="プランなし")
    await page.get_by_role("button", name=re.compile("絞り込む")).click()
    row = page.locator(f"#cases tr[data-case='{case_id}']")
    await expect(row).to_be_visible(timeout=10_000)
    await row.get_by_role("link", name=case_id[:8]).click()

    # 課題の解きほぐし: two strands, the second with no agency yet.
    strands = page.locator("#strands")
    await strands.get_by_label("分野").select_option("高齢・介護")
    await strands.get_by_label("課題の内容").fill("母の介護サービスの見直し")
    await strands.get_by_label("担当機関").fill(ELDERLY.ja)
    await strands.get_by_label("状態").select_option(label="対応中")
    await strands.get_by_role("button", name=re.compile("課題を追加")).click()
    await expect(page.get_by_role("alert")).to_contain_text("課題を記録しました")
    await strands.get_by_label("分野").select_option("ひきこもり")
    await strands.get_by_label("課題の内容").fill("息子の外出のきっかけづくり")
    await strands.get_by_role("button", name=re.compile("課題を追加")).click()
    table = page.locator("#strand-table tbody tr")
    await expect(table).to_have_count(2)
    await expect(table.nth(0)).to_contain_text(ELDERLY.ja)
    await expect(table.nth(0)).to_contain_text("対応中")
    await expect(table.nth(1)).to_contain_text("未定")
    await shoot(page, "collaboration-strands")

    # The plan form proposes its roles from the strands; proposing is refused while a strand has no agency.
    await page.get_by_role("link", name=re.compile("プランを作成")).click()
    first_role = page.get_by_role("group", name="役割1")
    await expect(first_role.get_by_label("機関")).to_have_value(ELDERLY.ja)
    await expect(first_role.get_by_role("textbox", name="役割")).to_have_value("高齢・介護: 母の介護サービスの見直し")
    await expect(page.locator("#unassigned-strands")).to_contain_text("1 件")
    await page.get_by_label("支援の方向性").fill("母の介護負担を軽くし、息子の外出を段階的に支える")
    await page.get_by_role("textbox", name="目標1").fill("月1回、息子と会える関係をつくる")
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("担当機関が決まっていない課題があります")
    await expect(page.locator("#plan-status")).to_have_text("下書き")
    await expect(page.locator("#unassigned-strands")).to_contain_text("1 件")  # the plan page says what to do
    plan_url = page.url.split("?")[0]

    # The strand gets its agency; the same plan now goes to the meeting.
    await page.goto(f"{collaboration}/ui/cases/{case_id}")
    await page.locator("#strand-table tbody tr").nth(1).get_by_role("link", name=re.compile("編集")).click()
    await page.get_by_label("担当機関").fill("アウトリーチ等を通じた継続的支援事業")
    await page.get_by_role("button", name=re.compile("保存")).click()
    await expect(page.locator("#strand-table tbody tr").nth(1)).to_contain_text("アウトリーチ等を通じた継続的支援事業")
    await page.goto(plan_url)
    await page.get_by_role("button", name=re.compile("保存して会議へ提出")).click()
    await expect(page.get_by_role("alert")).to_contain_text("第1版を会議へ提出しました")
    await page.goto(f"{plan_url}/print")  # the printed plan lists the strands it was made from
    await expect(page.locator("#print-strands tbody tr")).to_have_count(2)
    await expect(page.locator("#print-strands")).to_contain_text("アウトリーチ等を通じた継続的支援事業")
    # The list's filter follows the latest plan: no longer among プランなし, now among 会議に提出中.
    await page.goto(f"{collaboration}/ui/?status=none")
    await expect(page.locator("#cases .pager .count")).to_contain_text("0件")
    await expect(page.locator(f"#cases tr[data-case='{case_id}']")).to_have_count(0)
    await page.goto(f"{collaboration}/ui/?status=proposed")
    await expect(page.locator(f"#cases tr[data-case='{case_id}']")).to_contain_text("会議に提出中")

    # 相談支援包括化推進会議: the gap the meeting named awaits it.
    await page.goto(f"{collaboration}/ui/council")
    gap_row = page.locator("#gap-table tbody tr", has_text=GAP_NEED)
    await expect(gap_row).to_contain_text("重層的支援会議")
    await expect(gap_row).to_contain_text("推進会議待ち")
    await page.get_by_label(re.compile("開催日")).fill("R8.12.10")
    for agency in (LEAD_NAME, SHAKYO, division_name(ELDERLY.division)):
        await page.get_by_role("checkbox", name=agency, exact=True).check()
    await page.get_by_label(re.compile("備考")).fill("令和8年度第3回")
    await page.get_by_role("button", name=re.compile("開催を記録")).click()
    await expect(page.locator("#held-on")).to_contain_text("令和8年12月10日")
    await expect(page.locator("#attendees")).to_have_text("・".join(sorted([LEAD_NAME, SHAKYO, division_name(ELDERLY.division)])))

    await page.get_by_label(re.compile("推進会議を待つ課題")).select_option(label=f"{GAP_NEED}（調布市東部）")
    await page.get_by_role("button", name=re.compile("議題にする")).click()
    item = page.get_by_role("article", name="議題1")
    await expect(item).to_contain_text(GAP_NEED)
    # A request with no division is refused in words, keeping what was typed.
    await item.get_by_role("radio", name="課への依頼").check()
    await item.get_by_label(re.compile("内容")).fill("生活支援体制整備事業の協議体で居場所づくりを検討してほしい")
    await item.get_by_role("button", name=re.compile("決定を記録")).click()
    await expect(page.locator("#council-error")).to_contain_text("依頼先の課")
    item = page.get_by_role("article", name="議題1")
    await expect(item.get_by_label(re.compile("内容"))).to_have_value("生活支援体制整備事業の協議体で居場所づくりを検討してほしい")
    await expect(item.get_by_role("radio", name="課への依頼")).to_be_checked()
    await item.get_by_label(re.compile("依頼先の課")).select_option(label=division_name(ELDERLY.division))
    await item.get_by_role("button", name=re.compile("決定を記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("推進会議の決定を記録しました")
    await expect(page.locator("#agenda .decision")).to_contain_text("課への依頼")
    await expect(page.locator("#agenda .decision")).to_contain_text(division_name(ELDERLY.division))
    await shoot(page, "collaboration-council-sitting")

    await page.get_by_role("link", name=re.compile("推進会議へ")).click()
    await expect(page.locator("#gap-table tbody tr", has_text=GAP_NEED)).to_have_count(0)
    await expect(page.locator("#decided-table tbody tr", has_text=GAP_NEED)).to_contain_text("課への依頼")
    await expect(page.locator("#gap-table tbody tr", has_text=CSW_NEED)).to_contain_text("推進会議待ち")


async def test_the_same_through_the_api_with_its_refusals(ui_suite: Suite) -> None:
    """The JSON API does what the pages do (strands, roles from them, the council), refusing in words."""
    collaboration = ui_suite.url("collaboration")
    coordinator = staff_headers("fukushi-003", LEAD, "coordinator")
    csw = staff_headers("csw-001", LEAD, "welfare_coordinator")
    case_id = await escalate_a_case(ui_suite.url("intake"), "国領 一郎")
    async with httpx.AsyncClient(base_url=collaboration, timeout=30) as http:
        async def case_open() -> bool:
            return (await http.get(f"/cases/{case_id}", headers=coordinator)).status_code == 200

        await eventually(case_open, "collaboration to open the case")
        strand = await http.post(f"/cases/{case_id}/strands", headers=csw,
                                 json={"concern": "就労", "description": "息子の就労体験", "agency": ""})
        assert strand.status_code == 201, strand.text
        assert strand.json()["status"] == "todo"
        unknown = await http.post(f"/cases/{case_id}/strands", headers=csw, json={"concern": "宇宙"})
        assert unknown.status_code == 422 and "一覧" in unknown.json()["detail"]
        plan = await http.post(f"/cases/{case_id}/plans", headers=coordinator, json={
            "support_direction": "方向性", "goals": ["目標"],
            "roles": [{"agency": ELDERLY.ja, "responsibility": "介護"}]})
        refused = await http.post(f"/plans/{plan.json()['plan_id']}/propose", headers=coordinator)
        assert refused.status_code == 409 and "担当機関が決まっていない課題" in refused.json()["detail"]
        changed = await http.put(f"/cases/{case_id}/strands/{strand.json()['strand_id']}", headers=csw,
                                 json={"concern": "就労", "description": "息子の就労体験", "agency": partner("saposute"),
                                       "status": "working"})
        assert changed.status_code == 200 and changed.json()["agency"] == partner("saposute")
        roles = (await http.get(f"/cases/{case_id}/roles-from-strands", headers=coordinator)).json()
        assert roles == [{"agency": partner("saposute"), "responsibility": "就労: 息子の就労体験", "contact": None}]
        assert (await http.post(f"/plans/{plan.json()['plan_id']}/propose", headers=coordinator)).status_code == 200

        gap = await http.post("/council/gaps", headers=csw, json={"need": "夜間の相談先", "area": "市内全域"})
        assert gap.status_code == 201 and gap.json()["source"] == "coordinator"
        not_csw = await http.post("/council/sittings", headers=csw, json={"held_on": "R8.12.10", "attendees": [LEAD_NAME]})
        assert not_csw.status_code == 403  # holding a sitting is the coordinator's
        sitting = await http.post("/council/sittings", headers=coordinator,
                                  json={"held_on": "R8.12.10", "attendees": [LEAD_NAME]})
        assert sitting.status_code == 201 and sitting.json()["held_on"] == "2026-12-10"
        decide = f"/council/sittings/{sitting.json()['sitting_id']}/gaps/{gap.json()['gap_id']}/decision"
        off_agenda = await http.post(decide, headers=coordinator, json={"decision": "initiative", "summary": "検討会"})
        assert off_agenda.status_code == 409 and "議題" in off_agenda.json()["detail"]
        await http.post(f"/council/sittings/{sitting.json()['sitting_id']}/agenda", headers=coordinator,
                        json={"gap_id": gap.json()["gap_id"]})
        decided = await http.post(decide, headers=coordinator, json={"decision": "initiative", "summary": "検討会を始める"})
        assert decided.status_code == 200 and decided.json()["status"] == "initiative"
        awaiting = (await http.get("/council/gaps", params={"status": "awaiting"}, headers=reader())).json()
        assert gap.json()["gap_id"] not in [g["gap_id"] for g in awaiting]
        csv = await http.get("/ui/council/gaps.csv", headers=coordinator)
        assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
        line = next(row for row in csv.text.splitlines() if gap.json()["gap_id"] in row)
        assert "夜間の相談先" in line and "取組の開始" in line and "2026-12-10" in line
