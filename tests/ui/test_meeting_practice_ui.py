"""The meeting as practised, in the browser (issue 16): a sitting with its time, place, people, chair,
recorder and agenda; an objection that blocks approval but lets a revision request through; 全員賛成 in
one step; minutes (printable) that print each position as given; a 事例の学び refused with a phone number,
recorded without, and found in the 事例集 by another counter's staff, with the D14 trend beside it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from support.auth import reader, sign_in
from support.journey import Journey
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD, LEAD_NAME

from jusou.runner import Suite

from .conftest import shoot

pytestmark = pytest.mark.own_suite  # it reads the 事例集's and 持ち帰り's whole lists, which other modules' meetings fill

ATTENDEES = [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]
PEOPLE = [("調布 花子", LEAD_NAME), ("深大寺 太郎", ELDERLY.ja), ("国領 次郎", HARDSHIP.ja)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "meeting-minutes.png"


async def position(form: Locator, agency: str, given: str, text: str = "") -> None:
    row = form.get_by_role("group", name=agency, exact=True)
    await row.get_by_role("radio", name=given).check()
    await row.get_by_label("異議の理由・意見の内容").fill(text)


async def test_a_sitting_as_practised_through_the_pages(ui_suite: Suite, page: Page) -> None:
    async with httpx.AsyncClient(headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        revised, agreed = [await journey.draft_and_propose(await journey.receive_and_escalate()) for _ in range(2)]
        for plan_id in (revised, agreed):
            await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the agenda")
    meeting = ui_suite.url("meeting")

    # Convened, then the sitting: time, place, the people present, chair and recorder; two plans on its agenda.
    await sign_in(page, meeting, "kaigi-001", LEAD, "secretariat")
    await page.goto(f"{meeting}/ui/#convene")
    await page.get_by_role("radio", name="重層的支援会議").check()
    await page.get_by_label("開催日").fill("2026-12-03")
    for agency in ATTENDEES:
        await page.get_by_label(agency, exact=True).check()
    await page.get_by_role("button", name=re.compile("開催する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("開催しました")
    sitting = page.locator("#sitting")
    await sitting.get_by_label("開始").fill("14:00")
    await sitting.get_by_label("終了").fill("15:30")
    await sitting.get_by_label("場所").fill("市役所8階 特別会議室")
    for i, (name, agency) in enumerate(PEOPLE):
        await sitting.locator(f"#name-{i}").fill(name)
        await sitting.locator(f"#agency-{i}").select_option(agency)
    await sitting.get_by_label("議長").fill("調布 花子")
    await sitting.get_by_label("記録者").fill("探す 人")
    await sitting.get_by_role("button", name=re.compile("開催の記録を保存")).click()
    await expect(page.locator("#error-sitting")).to_contain_text("記録者は出席者から選んでください")
    await page.locator("#sitting").get_by_label("記録者").fill("深大寺 太郎")
    await page.locator("#sitting").get_by_role("button", name=re.compile("開催の記録を保存")).click()
    await expect(page.get_by_role("alert")).to_contain_text("開催の記録を保存しました")
    await expect(page.locator("#sitting-time")).to_have_text("14:00〜15:30")
    await expect(page.locator("#sitting-present")).to_have_text(
        f"調布 花子（{LEAD_NAME}）、深大寺 太郎（{ELDERLY.ja}）、国領 次郎（{HARDSHIP.ja}）")
    for plan_id in (agreed, revised):
        await page.locator("#agenda-add").get_by_label("プラン").select_option(plan_id)
        await page.locator("#agenda-add").get_by_role("button", name=re.compile("議事次第に加える")).click()
        await expect(page.get_by_role("alert")).to_contain_text("議事次第に加えました")
    await expect(page.locator("#agenda-order li")).to_have_count(2)
    assert await page.locator("#agenda-order li").evaluate_all("els => els.map(e => e.dataset.ref)") == [agreed, revised]
    sections = await page.locator("section.agenda-item").evaluate_all("els => els.map(e => e.dataset.plan)")
    assert sections[:2] == [agreed, revised], "the page takes the plans in the sitting's order"

    # An objection blocks approval, not a revision request; each position stays as given.
    form = page.locator(f"section[data-plan='{revised}']").get_by_role("form")
    await position(form, LEAD_NAME, "意見", "家計の見直しも加えてほしい")
    await position(form, ELDERLY.ja, "異議", "訪問の頻度が多すぎる")
    await position(form, HARDSHIP.ja, "保留")
    await form.get_by_role("radio", name="承認").check()
    await form.get_by_label("決定の理由").fill("頻度と家計の役割を見直してください")
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    await expect(page.locator(f"#error-{revised[:8]}")).to_contain_text(
        f"異議が残っているため承認できません: {ELDERLY.ja}（訪問の頻度が多すぎる）")
    form = page.locator(f"section[data-plan='{revised}']").get_by_role("form")
    await form.get_by_role("radio", name="修正依頼").check()
    await form.get_by_role("button", name=re.compile("決定を記録する")).click()
    await expect(page.get_by_role("alert")).to_contain_text("決定を記録しました: 修正依頼")

    # 全員賛成: every attendee's 賛成 in one step.
    form = page.locator(f"section[data-plan='{agreed}']").get_by_role("form")
    await form.get_by_role("button", name=re.compile("全員賛成で承認")).click()
    await expect(page.get_by_role("alert")).to_contain_text("決定を記録しました: 承認")

    # 事例の学び: a phone number is refused, as the form warned; general terms are recorded.
    learning = page.locator("#learnings")
    await expect(learning.get_by_role("note")).to_contain_text("個人情報を書かないでください")
    await learning.get_by_label("プラン").select_option(agreed)
    await learning.get_by_label("状況（一般化して）").fill("80代の親と50代の子。連絡は 090-1234-5678")
    await learning.get_by_label("有効だった支援").fill("包括の訪問に生活困窮の窓口が同行し、家計の相談から子と話せた")
    await learning.get_by_label(ELDERLY.ja).check()
    await learning.get_by_label("ひきこもり").check()
    await learning.get_by_role("button", name=re.compile("事例の学びを記録")).click()
    await expect(page.locator("#error-learning")).to_contain_text("個人を特定できる情報（090-1234-5678）")
    learning = page.locator("#learnings")
    await expect(learning.get_by_label("ひきこもり")).to_be_checked()
    await learning.get_by_label("状況（一般化して）").fill("80代の親と50代の子の世帯。子が長くひきこもり、親の介護が始まった")
    await learning.get_by_label("活用した資源").fill("家計改善支援、居場所")
    await learning.get_by_role("button", name=re.compile("事例の学びを記録")).click()
    await expect(page.get_by_role("alert")).to_contain_text("事例の学びを記録しました")

    # The printed minutes: the sitting, its people and agenda, each position as given, the decisions.
    await page.get_by_role("link", name=re.compile("会議録を印刷")).click()
    doc = page.get_by_role("article", name="会議録")
    await expect(doc.locator("#sitting-place")).to_have_text("市役所8階 特別会議室")
    await expect(doc.locator("#sitting-chair")).to_have_text("調布 花子")
    await expect(doc.locator("#sitting-recorder")).to_have_text("深大寺 太郎")
    await expect(doc.locator("#agenda-order li")).to_have_count(2)
    given = doc.locator("li[data-kind='decision']").first.locator("tbody tr")
    await expect(given).to_have_text([f"{LEAD_NAME}意見家計の見直しも加えてほしい", f"{ELDERLY.ja}異議訪問の頻度が多すぎる",
                                      f"{HARDSHIP.ja}保留"])
    await expect(doc.locator("tr[data-position='agree']")).to_have_count(3)  # 全員賛成, each attendee
    await expect(doc.locator("tr[data-position='object']")).to_have_count(1)
    await expect(doc).to_contain_text("家計改善支援、居場所")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(await shoot(page, "meeting-minutes"), SCREENSHOT)

    # Another counter's staff (保育コンシェルジュ, not at the sitting) find it in the 事例集 by concern.
    await page.context.clear_cookies()
    await sign_in(page, meeting, "hoiku-1", CHILDCARE.division, "counselor")
    await page.goto(f"{meeting}/ui/learnings")
    await page.get_by_label("相談の分野").select_option("hikikomori")
    await page.get_by_role("button", name="探す / search").click()
    await expect(page.locator("#found-count")).to_have_text("1件 / found")
    await expect(page.locator(".card").first.locator(".learning")).to_contain_text("包括の訪問に生活困窮の窓口が同行し")
    await expect(page.locator("#takeaways .learning")).to_have_count(0)  # not theirs to take home
    await page.locator("#takeaways").get_by_label("機関ごと").select_option(HARDSHIP.ja)  # an attendee's 持ち帰り
    await page.get_by_role("button", name=re.compile("持ち帰りを見る")).click()
    await expect(page.locator("#takeaways .learning")).to_contain_text("包括の訪問に生活困窮の窓口が同行し")
    await expect(page.locator("#trend-link")).to_have_attribute("href", re.compile("/ui/trend$"))
    await page.get_by_label("相談の分野").select_option("debt")
    await page.get_by_role("button", name="探す / search").click()
    await expect(page.locator("#found-count")).to_have_text("0件 / found")
