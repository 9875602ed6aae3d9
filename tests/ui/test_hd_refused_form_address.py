"""A form refused where it stands comes back as its page with the reason and what was typed, but it came back at the
POST's address (HD's review as staff): /ui/consultations, /ui/cases/<id>/escalate, /ui/meetings/<id>/decisions… So
reloading the page posted the form again (the browser asking to resend it), and the address was no page at all: sent
again after the session had ended, the form led after signing in to that address, 「この画面ではその操作はできません」
(405), and what was typed was not put back, although signing in again promises the form's page with the input back
(README "What you typed survives signing in again"). Now the refused page stands at the address of the page the form
was sent from (redirect-after-post for a refusal, which keeps what was typed on the page)."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from support.auth import account
from support.municipality import ELDERLY
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import sign_in

COUNSELOR = ("kouki-041", ELDERLY.division, "counselor")
FORM_PAGE = re.compile(r"/ui/consultations/new(\?[^#]*)?$")


async def _refused_consultation(page: Page, intake: str, name: str) -> None:
    """A consultation typed at the counter and refused for a birth date that is no day (422, the form kept)."""
    await sign_in(page, intake, *COUNSELOR)
    await page.goto(f"{intake}/ui/consultations/new?counter={ELDERLY.code}")
    await page.get_by_label("高齢・介護").check()
    await page.get_by_label("氏名").fill(name)
    await page.get_by_label("生年月日").fill("S35.13.3")
    await page.get_by_label("相談概要").fill("母の介護と息子のひきこもり。夜間の連絡先は長女。")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name=re.compile("受け付ける")).click()
    assert (await answered.value).status == 422
    await expect(page.get_by_role("alert").first).to_contain_text("実在しない日付")


async def test_a_refused_consultation_stands_at_its_forms_page_and_a_reload_posts_nothing(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    await _refused_consultation(page, intake, "再読 込太")
    await script_ready(page)
    await expect(page).to_have_url(FORM_PAGE)
    await expect(page.get_by_label("氏名")).to_have_value("再読 込太")  # the form as typed, on its own page

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.reload()
    await expect(page.get_by_role("heading", name=re.compile("相談受付票"))).to_be_visible()
    assert posts == [], f"a reload sent the refused form again: {posts}"


async def test_a_refused_form_sent_again_after_the_session_ended_comes_back_filled_in_after_signing_in(
        ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    name = "再入 力子"
    await _refused_consultation(page, intake, name)
    await script_ready(page)
    await page.get_by_label("生年月日").fill("S35.2.3")  # put right, while the session runs out
    await page.context.clear_cookies()
    await page.get_by_role("button", name=re.compile("受け付ける")).click()

    await expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fconsultations%2Fnew"))  # the form's page
    await page.get_by_label("職員番号").fill(COUNSELOR[0])
    await page.get_by_label("パスワード").fill(account(*COUNSELOR))
    await page.get_by_role("button", name="ログイン").click()

    await script_ready(page, url=re.compile(r"/ui/consultations/new\?.*ok=signed_in$"))
    await expect(page.get_by_role("status").filter(has_text="まだ送信していません")).to_be_visible()
    await expect(page.get_by_label("氏名")).to_have_value(name)
    await expect(page.get_by_label("生年月日")).to_have_value("S35.2.3")
    await expect(page.get_by_label("相談概要")).to_have_value("母の介護と息子のひきこもり。夜間の連絡先は長女。")
    await page.get_by_role("button", name=re.compile("受け付ける")).click()
    await expect(page.get_by_role("alert").first).to_contain_text("相談を受け付けました")
