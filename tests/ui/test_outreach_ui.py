"""Outreach workers in the browser (D12): start an engagement for a person no counter has met, log
contacts as the relationship grows, hand the person over; participation sees it arrive, live."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from support.auth import reader
from support.journey import COUNTER_STAFF, OUTREACH_WORKER
from support.municipality import ELDERLY, LEAD, program_of
from support.ui_ready import SIGNED_IN, script_ready

from jusou.runner import Suite

from .conftest import shoot, sign_in

CONTACTS = (  # method, reached, stage after it, note
    ("手紙", False, "未接触", "玄関に手紙を置いた。返事なし"),
    ("訪問", True, "接触", "玄関越しに短く話せた"),
    ("訪問", True, "関係形成", "好きなゲームの話を15分。次回の約束ができた"),
)


async def record_contact(page: Page, method: str, reached: bool, stage: str, note: str) -> None:
    await page.get_by_label("方法 / method").select_option(method)
    await page.get_by_label("会えた・話せた" if reached else "会えなかった").check()
    await page.get_by_label("関係の段階（記録後）").select_option(stage)
    await page.get_by_label("記録 / note", exact=True).fill(note)
    await page.get_by_role("button", name=re.compile("接触を記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("接触を記録しました")


async def test_outreach_worker_reaches_a_person_and_hands_over_to_participation(
    ui_suite: Suite, page: Page, browser: Any
) -> None:
    outreach, participation = ui_suite.url("outreach"), ui_suite.url("participation")
    # A participation colleague has the list of supports open in their own browser meanwhile.
    colleague = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    supports = await colleague.new_page()
    await sign_in(supports, participation, "sanka-002", LEAD, "participation_worker")
    await expect(supports.get_by_role("heading", name="参加支援 / supports")).to_be_visible()
    await script_ready(supports)  # its live list listens (htmx) before the hand-over it is to show (below)

    await sign_in(page, outreach, "outreach-007", LEAD, "outreach_worker")
    await expect(page.get_by_role("heading", name=re.compile("関わっている方"))).to_be_visible()
    # A person no counter has met yet (D12: before any escalation).
    await page.get_by_label("新しい方").check()
    await page.get_by_label("紹介元").select_option(label="民生委員・児童委員")
    await page.get_by_label("理由・状況").fill("50代男性、10年以上自宅からほとんど出ていない。80代の母が心配している")
    await page.get_by_label("住所・所在地域").fill("調布市国領町8丁目")
    await shoot(page, "outreach-start")
    await page.get_by_role("button", name="始める / start").click()
    await expect(page.get_by_role("alert")).to_contain_text("アウトリーチを始めました")
    case_id = (await page.locator("#case-number").inner_text()).strip()
    await expect(page.locator("#address")).to_have_text("調布市国領町8丁目")  # issue 15: kept and shown
    stages = page.get_by_role("list", name=re.compile("関係の段階"))
    await expect(stages.locator("[aria-current='step']")).to_contain_text("未接触")

    for method, reached, stage, note in CONTACTS:
        await record_contact(page, method, reached, stage, note)
        await expect(stages.locator("[aria-current='step']")).to_contain_text(stage)
    log = page.locator("#contact-log tbody tr")
    await expect(log).to_have_count(3)
    await expect(log.first).to_contain_text("令和")
    await expect(log.nth(0)).to_contain_text("会えず")
    await expect(log.nth(2)).to_contain_text("次回の約束ができた")
    await expect(stages.locator("li.done")).to_have_count(2)  # 未接触 → 接触 → 関係形成

    # A refusal from the domain is said in words and what was typed stays.
    await page.get_by_label("包括的相談支援（相談窓口）").check()
    await page.get_by_label("理由 / reason").fill("日中の居場所につなぎたい。本人も見学に前向き")
    await page.get_by_role("button", name="引き継ぐ / hand over").click()
    await expect(page.get_by_role("alert")).to_contain_text("受付窓口を選んでください")
    await expect(page.get_by_label("理由 / reason")).to_have_value("日中の居場所につなぎたい。本人も見学に前向き")
    await expect(page.get_by_label("包括的相談支援（相談窓口）")).to_be_checked()

    await page.get_by_label("参加支援").check()
    await page.get_by_role("button", name="引き継ぐ / hand over").click()
    await expect(page.get_by_role("alert")).to_contain_text("参加支援へ引き継ぎました")
    await expect(page.locator("#handed-over")).to_contain_text("参加支援")
    await shoot(page, "outreach-engagement")
    await page.set_viewport_size({"width": 768, "height": 1024})
    await shoot(page, "outreach-engagement-tablet")
    await page.set_viewport_size({"width": 1280, "height": 800})

    # Participation sees the new support without reloading (the hand-over travels over the bus).
    await expect(supports.locator(f"#supports tr[data-case='{case_id}']")).to_be_visible(timeout=10_000)
    await expect(supports.locator(f"#supports tr[data-case='{case_id}']")).to_contain_text("アウトリーチから")
    await colleague.close()

    await page.get_by_role("link", name=re.compile("一覧へ")).click()
    row = page.locator(f"#engagements tr[data-case='{case_id}']")
    await expect(row).to_contain_text("関係形成")
    await expect(row).to_contain_text("参加支援へ")
    await shoot(page, "outreach-home")

    await page.goto(f"{outreach}/ui/engagements/{case_id}")
    await page.get_by_role("link", name=re.compile("経過を見る")).click()
    timeline = page.get_by_role("list", name="経過")
    await expect(timeline.locator("li[data-event='Engagement.HandedOver']")).to_be_visible()
    await expect(timeline.locator("li[data-event='Engagement.ContactRecorded']")).to_have_count(3)
    for _ in range(50):  # participation records its start a moment after the hand-over
        if await timeline.locator("li[data-service='participation']").count():
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(timeline.locator("li[data-event='Support.Started']")).to_contain_text("参加支援")
    await shoot(page, "outreach-timeline")


async def test_outreach_for_a_known_case_and_refusals_keep_the_input(ui_suite: Suite, page: Page) -> None:
    outreach, intake = ui_suite.url("outreach"), ui_suite.url("intake")
    async with httpx.AsyncClient(headers=reader()) as client:  # the counter already knows the person
        response = await client.post(f"{intake}/consultations", json={
            "counter": ELDERLY.code, "channel": "電話", "concerns": ["ひきこもり"], "person": {"name": "布田 次郎"},
            "confirm_new_person": True}, headers=COUNTER_STAFF)
        assert response.status_code == 201, response.text
        case_id = response.json()["case_id"]
        connected = await client.post(f"{intake}/cases/{case_id}/connect", headers=COUNTER_STAFF, json={
            "to_agency": program_of("outreach").ja, "reason": "訪問してほしい"})  # D9: outreach's division reads it
        assert connected.status_code == 200, connected.text
    await sign_in(page, outreach, "outreach-008", LEAD, "outreach_worker")
    await script_ready(page, url=SIGNED_IN)  # the message as it is typed is jusou.js's: typed before it ran, none
    await page.get_by_role("radio", name="既存のケース").check()
    await page.get_by_label("ケース番号").fill("12345")  # checked as it is typed, said in words
    await expect(page.locator("#case_id-error")).to_contain_text("8-4-4-4-12")
    await page.get_by_label("ケース番号").fill(case_id)
    await expect(page.locator("#case_id-error")).to_have_text("")
    await page.get_by_label("紹介元").select_option(label=ELDERLY.ja)
    await page.get_by_label("理由・状況").fill("窓口に来られない。訪問してほしい")
    await page.get_by_role("button", name="始める / start").click()
    await expect(page.get_by_role("alert")).to_contain_text("アウトリーチを始めました")
    await expect(page.locator("#case-number")).to_have_text(case_id)
    # Starting it twice is refused in words; what was typed stays.
    await page.goto(f"{outreach}/ui/")
    await page.get_by_role("radio", name="既存のケース").check()
    await page.get_by_label("ケース番号").fill(case_id)
    await page.get_by_label("紹介元").select_option(label="家族")
    await page.get_by_label("理由・状況").fill("姉からも依頼があった")
    await page.get_by_role("button", name="始める / start").click()
    await expect(page.get_by_role("alert")).to_contain_text("既に始まっています")
    await expect(page.get_by_label("理由・状況")).to_have_value("姉からも依頼があった")
    await expect(page.get_by_label("ケース番号")).to_have_value(case_id)
    await expect(page.get_by_role("link", name="その関わりを開く")).to_have_attribute("href", f"/ui/engagements/{case_id}")
    await shoot(page, "outreach-start-refused")
    await page.goto(f"{outreach}/ui/engagements/{case_id}")
    # Handing over to a counter names it (shared.organisation.reference.COUNTERS).
    await page.get_by_label("包括的相談支援（相談窓口）").check()
    await page.get_by_label(re.compile("受付窓口")).select_option(label=ELDERLY.ja)
    await page.get_by_label("理由 / reason").fill("本人が窓口での相談を希望")
    await page.get_by_role("button", name="引き継ぐ / hand over").click()
    await expect(page.locator("#handed-over")).to_contain_text(ELDERLY.ja)


async def test_engagements_csv_opens_in_excel(ui_suite: Suite) -> None:
    async with httpx.AsyncClient(headers=reader()) as client:
        started = await client.post(f"{ui_suite.url('outreach')}/engagements", json={
            "referred_by": "家族", "reason": "CSV の確認", "address": "調布市小島町"}, headers=OUTREACH_WORKER)
        assert started.status_code == 201, started.text
        response = await client.get(f"{ui_suite.url('outreach')}/ui/engagements.csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.text.lstrip("\ufeff").split("\r\n")
    assert lines[0].startswith("ケース番号,紹介元,理由,住所・所在地域,関係の段階")
    assert any(started.json()["case_id"] in line and "調布市小島町,未接触" in line for line in lines[1:])


async def test_the_engagements_list_pages_and_its_filter_bar_narrows_it(ui_suite: Suite, page: Page) -> None:
    """The shared pager and filter bar on outreach's list (issue 15): a second page, and 関係の段階 narrows it."""
    outreach = ui_suite.url("outreach")
    async with httpx.AsyncClient(headers=reader()) as client:
        started = []
        for reason in ("頁送りの確認（一）", "頁送りの確認（二）"):
            answer = await client.post(f"{outreach}/engagements", json={"referred_by": "近隣住民", "reason": reason},
                                       headers=OUTREACH_WORKER)
            assert answer.status_code == 201, answer.text
            started.append(answer.json()["case_id"])
        contact = await client.post(f"{outreach}/engagements/{started[0]}/contacts", json={
            "method": "訪問", "reached": True, "note": "玄関先で話せた", "stage": "つなぎ準備"}, headers=OUTREACH_WORKER)
        assert contact.status_code == 201, contact.text

    await sign_in(page, outreach, "outreach-001", LEAD, "outreach_worker")
    await page.goto(f"{outreach}/ui/?per_page=1")
    pager = page.get_by_role("navigation", name="アウトリーチのページ / pages")
    everything = int((await pager.locator(".count").inner_text()).split("件中")[0])
    assert everything >= 2
    await expect(pager).to_contain_text(f"{everything}件中 1–1件")
    await expect(page.locator("#engagements tbody tr")).to_have_count(1)
    await pager.get_by_role("link", name="次へ / next").click()
    await expect(pager).to_contain_text(f"{everything}件中 2–2件")

    await page.goto(f"{outreach}/ui/")
    filters = page.get_by_role("search", name="絞り込み / filters")
    await filters.get_by_label("状態 / status").select_option(label="つなぎ準備")
    await filters.get_by_role("button", name="絞り込む / filter").click()
    rows = page.locator("#engagements tbody tr")
    await expect(rows.first).to_contain_text("つなぎ準備")
    shown = await rows.count()
    assert 1 <= shown < everything, "the filter narrows the list"
    for i in range(shown):
        await expect(rows.nth(i)).to_contain_text("つなぎ準備")
    await expect(pager).to_contain_text(f"{shown}件中")
