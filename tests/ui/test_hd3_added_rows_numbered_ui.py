"""Rows added to the plan editor are numbered as they stand (HD's review, session 21): every goal added by 「＋ 目標を追加」
was labelled 「追加の目標」 (every role 「追加の役割」, every member 「追加の世帯員」, every need 「ニーズ（追加）」), and every
added row's remove button 「この目標を削除」, so a screen reader user moving through the fields heard the same name for
each and could not tell which goal they were in or which one a 削除 removes. Each added row now takes its number among
the rows (目標2, 目標3; 役割2; 世帯員1), renumbered after a removal, and its button says which row it removes."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from support.municipality import LEAD
from support.ui_ready import script_ready

from jusou.runner import Suite

from .conftest import sign_in
from .test_collaboration_ui import escalate_a_case


async def test_added_goals_and_roles_are_numbered_and_renumbered_after_a_removal(ui_suite: Suite, page: Page) -> None:
    collaboration = ui_suite.url("collaboration")
    case_id = await escalate_a_case(ui_suite.url("intake"), "行番号 確認")
    await sign_in(page, collaboration, "fukushi-003", LEAD, "coordinator")
    await expect(page.locator(f"#cases tr[data-case='{case_id}']")).to_be_visible(timeout=20_000)
    await page.goto(f"{collaboration}/ui/cases/{case_id}/plans/new")
    await script_ready(page)

    add_goal = page.get_by_role("button", name=re.compile("目標を追加"))
    for text in ("二つ目", "三つ目", "四つ目"):
        await add_goal.click()
        await page.keyboard.type(text)
    await expect(page.get_by_role("textbox", name="目標3", exact=True)).to_have_value("三つ目")
    await expect(page.get_by_role("textbox", name="追加の目標")).to_have_count(0)

    await page.get_by_role("button", name="目標2を削除 / remove", exact=True).click()
    await expect(page.get_by_role("textbox", name="目標2", exact=True)).to_have_value("三つ目")
    await expect(page.get_by_role("textbox", name="目標3", exact=True)).to_have_value("四つ目")
    await expect(page.get_by_role("button", name="目標3を削除 / remove", exact=True)).to_have_count(1)

    await page.get_by_role("button", name=re.compile("役割を追加")).click()
    await expect(page.get_by_role("group", name="役割2", exact=True)).to_have_count(1)
    await page.get_by_role("button", name=re.compile("世帯員を追加")).click()
    await expect(page.get_by_role("group", name="世帯員1", exact=True)).to_have_count(1)
