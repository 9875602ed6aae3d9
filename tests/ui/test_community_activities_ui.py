"""地域づくり as places and activities in the browser (D21, issue 16): a 高齢者支援室 worker registers a program's
place as a 居場所, records a session held there (a refusal first, in words), records the self-help group that
formed, and the fiscal year's figures show them; participation's catalogue offers the 居場所."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import httpx
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, division_name
from support.poll import eventually

from jusou.runner import Suite
from services.community.application import fiscal_year_of
from shared.domain.wareki import today_in_japan
from shared.organisation.reference import programs

from .conftest import shoot, sign_in
from .upstream import COMMUNITY_STAFF, post

PLACE = "いきいきサロン「ひだまり」"
GROUP = "ひだまり10の筋トレの会"
#: The elderly counter's division's community programs (Chofu's 高齢者支援室: 介護予防普及啓発事業 first, four in all);
#: the place is on the first, the group on the last (e.g. Chofu's 生活支援体制整備事業; a file with one: the same program).
OWN = [p for p in programs().values() if p.kind == "community" and p.division == ELDERLY.division]
PROGRAM, GROUP_PROGRAM = OWN[0], OWN[-1]
#: A community program of another division (e.g. Chofu's 地域活動支援センター事業 of 障害福祉課): none of this test's sessions.
OTHER = next(p for p in programs().values() if p.kind == "community" and p.division not in (ELDERLY.division, None))


async def test_d21_a_place_a_session_and_a_group_show_in_the_years_figures(ui_suite: Suite, page: Page) -> None:
    community, participation = ui_suite.url("community"), ui_suite.url("participation")
    today = today_in_japan()
    year = fiscal_year_of(today)
    await sign_in(page, community, "kouki-021", ELDERLY.division, "community_worker")

    # A place of 介護予防普及啓発事業, offered as a 居場所; the program list holds only the division's programs.
    await page.goto(f"{community}/ui/places")
    register = page.locator("#register")
    await expect(register.get_by_label("事業 / program").locator("option")).to_have_count(len(OWN))
    await register.get_by_label("事業 / program").select_option(label=PROGRAM.ja)
    await register.get_by_label("拠点の名称").fill(PLACE)
    await register.get_by_label("地域 / area").fill("東部地区")
    await register.get_by_label("居場所として参加支援に提供する").check()
    await register.get_by_label("定員（任意）").fill("２０")
    await register.get_by_label("開設日 / opened on").fill(f"{year}-04-01")
    await page.get_by_role("button", name="登録する").click()
    await expect(page.get_by_role("alert")).to_contain_text(f"拠点「{PLACE}」を登録しました。居場所として参加支援")
    row = page.locator("#places tr[data-place]", has_text=PLACE)
    await expect(row).to_contain_text("居場所")
    await expect(row).to_contain_text("20人")
    await expect(row).to_contain_text("kouki-021")

    # A session: more new participants than participants is refused in words, the form kept; then recorded.
    await page.get_by_role("link", name="活動と実績").click()
    record = page.locator("#record")
    await record.get_by_label("拠点 / place").select_option(label=f"{PLACE}（{PROGRAM.ja}・東部地区）")
    await record.get_by_label("開催日 / held on").fill(f"{year}/4/1")
    await record.get_by_label("参加者数 / participants").fill("12")
    await record.get_by_label("うち新規参加者数").fill("13")
    await record.get_by_label("ボランティア数").fill("2")
    await record.get_by_label("参加団体").fill("老人クラブ連合会\n民生委員協議会")
    await page.get_by_role("button", name="開催を記録する").click()
    await expect(page.get_by_role("alert")).to_contain_text("新規参加者数は参加者数以下にしてください")
    await expect(record.get_by_label("参加団体")).to_have_value("老人クラブ連合会\n民生委員協議会")
    await record.get_by_label("うち新規参加者数").fill("3")
    await page.get_by_role("button", name="開催を記録する").click()
    await expect(page.get_by_role("alert")).to_contain_text("開催を記録しました")
    session = page.locator("#sessions tr[data-session]", has_text=PLACE)
    await expect(session).to_contain_text("12人")
    await expect(session).to_contain_text("老人クラブ連合会、民生委員協議会")

    # The self-help group that formed there, on the place's program and area.
    groups = page.locator("#groups")
    await groups.get_by_label("グループの名称").fill(GROUP)
    await groups.get_by_label("事業 / program").select_option(label=GROUP_PROGRAM.ja)
    await groups.get_by_label("拠点（任意）").select_option(label=PLACE)
    await groups.get_by_label("結成日").fill(f"{year}-04-01")
    await groups.get_by_label("メンバー数（任意）").fill("8")
    await page.get_by_role("button", name="グループを記録する").click()
    await expect(page.get_by_role("alert")).to_contain_text(f"自主グループ「{GROUP}」を記録しました")
    await expect(page.locator("#groups-table tr[data-group]", has_text=GROUP)).to_contain_text("東部地区")

    # The year's figures per program and quarter.
    kaigo = page.locator(f"#figures-table tr[data-program='{PROGRAM.code}']")
    for figure, value in (("sessions", "1"), ("participants", "12"), ("new_participants", "3"), ("volunteers", "2"),
                          ("organisations", "2"), ("places", "1"), ("ibasho", "1"), ("new_places", "1")):
        await expect(kaigo.locator(f"td[data-figure='{figure}']")).to_have_text(value)
    await expect(page.locator(f"#figures-table tr[data-program='{GROUP_PROGRAM.code}'] td[data-figure='new_groups']")).to_have_text("1")
    await expect(page.locator("#quarters-table tr[data-quarter='1'] td").first).to_have_text("1")
    await shoot(page, "community-activities")
    await page.goto(f"{community}/ui/")  # the community page's summary of the year
    await expect(page.locator("#year-summary [data-figure='sessions']")).to_have_text("1")
    await expect(page.locator("#year-summary [data-figure='new_groups']")).to_have_text("1")
    await page.get_by_role("link", name="事業別・四半期別の実績").click()

    # The filter bar narrows the sessions by 事業 and 担当者.
    await page.locator("#sessions-card").get_by_label("事業 / program").select_option(label=OTHER.ja)
    await page.locator("#sessions-card").get_by_role("button", name="絞り込む").click()
    await expect(page.locator("#sessions tr[data-session]")).to_have_count(0)
    await page.locator("#sessions-card").get_by_label("事業 / program").select_option(label="すべて")
    await page.locator("#sessions-card").get_by_label("担当者 / in charge").select_option("kouki-021")
    await page.locator("#sessions-card").get_by_role("button", name="絞り込む").click()
    await expect(page.locator("#sessions tr[data-session]")).to_have_count(1)

    # The resources' list filters by 種類 and 担当者 (who registered it) too.
    async with httpx.AsyncClient() as client:
        for kind, name in (("shuro", "就労体験の場（絞り込み）"), ("jukyo", "住まいの相談（絞り込み）")):
            await post(client, f"{community}/resources", {"kind": kind, "name": name, "provider": "NPO法人",
                                                          "area": "東部地区"}, COMMUNITY_STAFF)
    await page.goto(f"{community}/ui/resources")
    search = page.get_by_role("search")
    await search.get_by_label("種類").select_option(label="就労支援")
    await search.get_by_label("担当者（登録した職員）").select_option("chiiki-001")
    await search.get_by_role("button", name="絞り込む").click()
    await expect(page.locator("#resources tr[data-resource]")).to_have_count(1)
    await expect(page.locator("#resources tr[data-resource]")).to_contain_text("就労体験の場（絞り込み）")

    # The place closes: a day before it opened is refused in words; then today, and the list says so.
    await page.goto(f"{community}/ui/places")
    closure = page.locator("#closure")
    await closure.get_by_label("拠点 / place").select_option(label=f"{PLACE}（{PROGRAM.ja}）")
    await closure.get_by_label("閉所日").fill(f"{year}-03-31")
    await closure.get_by_role("button", name="閉所を記録する").click()
    await expect(page.get_by_role("alert")).to_contain_text("閉所日は開設日")
    await page.locator("#closure").get_by_label("閉所日").fill(today.isoformat())
    await page.locator("#closure").get_by_role("button", name="閉所を記録する").click()
    await expect(page.get_by_role("alert")).to_contain_text("閉所を記録しました")
    await expect(page.locator("#places tr[data-place]", has_text=PLACE)).to_contain_text("閉所")
    await expect(page.locator("#closure")).to_have_count(0)  # no open place of the division is left
    await shoot(page, "community-places")

    async with httpx.AsyncClient(headers=reader()) as client:
        # The same figures as JSON, for the city-wide report; a year outside the range is refused.
        figures = (await client.get(f"{community}/figures/community", params={"fy": year})).json()
        assert figures["total"]["sessions"] == 1 and figures["total"]["new_groups"] == 1
        assert (await client.get(f"{community}/figures/community", params={"fy": 1999})).status_code == 422
        listed = (await client.get(f"{community}/sessions", params={"program": PROGRAM.code, "fy": year})).json()
        assert [s["participants"] for s in listed] == [12]
        assert (await client.get(f"{community}/sessions", params={"fy": year - 1})).json() == []
        assert [g["name"] for g in (await client.get(f"{community}/groups", params={"program": GROUP_PROGRAM.code})).json()] == [GROUP]

        # Another division's community worker may not record this program's session; an unknown place is 404.
        place_id = next(p["place_id"] for p in (await client.get(f"{community}/places")).json() if p["name"] == PLACE)
        kodomo = staff_headers("kodomo-001", OTHER.division or "", "community_worker")
        refused = await client.post(f"{community}/sessions", headers=kodomo, json={
            "place_id": place_id, "held_on": today.isoformat(), "participants": 3})
        assert refused.status_code == 403 and division_name(ELDERLY.division) in refused.json()["detail"], refused.text
        missing = await client.post(f"{community}/sessions", headers=kodomo, json={
            "place_id": str(uuid4()), "held_on": today.isoformat(), "participants": 3})
        assert missing.status_code == 404 and "拠点" in missing.json()["detail"], missing.text

        # Participation's catalogue offers the 居場所, learnt from community's ResourceDeveloped.
        async def offered() -> list[dict[str, object]] | None:
            entries = [e for e in (await client.get(f"{participation}/catalogue")).json() if e["name"] == PLACE]
            return entries or None

        [entry] = await eventually(offered, "the 居場所 to reach participation's catalogue")
        assert (entry["kind"], entry["capacity"], entry["area"]) == ("ibasho", 20, "東部地区")
    assert date.fromisoformat(figures["starts_on"]) <= today
