"""The city's figures in the browser (issue 16): the year and quarter chosen, the tables per counter and
program with their bars, 「3未満」 for small cells, the CSV downloaded, the printable page."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from support.auth import reader, staff_headers
from support.journey import COUNTER_STAFF, SECRETARIAT, Journey
from support.municipality import ELDERLY, HARDSHIP, IS_DEFAULT, LEAD, LEAD_NAME
from support.servers import free_port, nats_server

from jusou.runner import Suite
from shared.domain.figures import fiscal_year_of, quarter_bounds, quarter_of
from shared.domain.wareki import today_in_japan

from .conftest import SERVICES, shoot, sign_in

SUPERVISOR = ("kanri-010", LEAD, "supervisor")
LIFE_SUPPORT = staff_headers("seikatsu-1", HARDSHIP.division, "counselor")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def ui_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The suite with the city's targets for this fiscal year (JUSOU_TARGETS_FILE, read by the services when asked)."""
    root = tmp_path_factory.mktemp("ui-figures")
    targets = root / "targets.toml"
    fy = fiscal_year_of(today_in_japan())
    targets.write_text(f"[fy{fy}.consultations]\ntotal = 10\n\"{ELDERLY.code}\" = 5\n[fy{fy}.meetings_held]\n"
                       "jusou_shien_kaigi = 4\n", encoding="utf-8")
    os.environ["JUSOU_TARGETS_FILE"] = str(targets)
    try:
        ports = {name: free_port() for name in SERVICES}
        with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports) as running:
            yield running
    finally:
        os.environ.pop("JUSOU_TARGETS_FILE", None)


async def test_the_years_figures_page_with_quarters_bars_and_csv(ui_suite: Suite, page: Page) -> None:
    today = today_in_japan()  # what is recorded today counts in this fiscal year and quarter
    fy, quarter = fiscal_year_of(today), quarter_of(today)
    first_day, _ = quarter_bounds(fy, quarter)
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        journey = Journey({name: ui_suite.url(name) for name in ui_suite.services}, client)
        for day, counter in ((2, ELDERLY.code), (3, ELDERLY.code), (4, ELDERLY.code), (5, HARDSHIP.code)):
            await journey.post("intake", "/consultations", {
                "counter": counter, "channel": "窓口", "concerns": ["高齢・介護"],
                "person": {"name": "調布 次郎", "kana": "ちょうふ じろう", "birth_date": f"1948-02-0{day}"},
                "confirm_new_person": True}, COUNTER_STAFF if counter == ELDERLY.code else LIFE_SUPPORT)
        for held_on in (first_day.isoformat(),) * 3:  # three sittings this quarter
            await journey.post("meeting", "/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": held_on,
                                                        "attendees": [LEAD_NAME, ELDERLY.ja]}, SECRETARIAT)

    base = ui_suite.url("meeting")
    await sign_in(page, base, *SUPERVISOR)
    await page.goto(f"{base}/ui/figures")  # this fiscal year
    await expect(page.get_by_role("heading", name=re.compile("実績"))).to_contain_text(f"（{fy}年度）")
    consultations = page.locator("tbody[data-indicator='consultations']")
    # 3 at 地域包括支援センター and 1 at ライフサポート: the 1 is 「3未満」, and the 3 is 「秘匿」 (4 − 3 would give the 1)
    await expect(consultations.locator(f"tr[data-key='{HARDSHIP.code}'] td[data-year]")).to_have_text("3未満")
    await expect(consultations.locator(f"tr[data-key='{ELDERLY.code}'] td[data-year]")).to_have_text("秘匿")
    await expect(consultations.locator("tr[data-key='total'] td[data-year]")).to_have_text("4")
    await expect(consultations.locator(f"tr[data-key='{ELDERLY.code}'] td[data-target]")).to_have_text("5")
    await expect(consultations.locator("tr[data-key='total'] td[data-target]")).to_have_text("10（40.0%）")
    persons = page.locator("tbody[data-indicator='consultation_persons']")  # 実人数 is no sum: nothing to work out
    await expect(persons.locator(f"tr[data-key='{ELDERLY.code}'] td[data-year]")).to_have_text("3")
    meetings = page.locator("tbody[data-indicator='meetings_held']")
    await expect(meetings.locator("tr[data-key='jusou_shien_kaigi']")).to_contain_text("重層的支援会議")
    await expect(page.get_by_role("img", name=re.compile("相談受付件数の年度計"))).to_be_visible()
    await expect(page.get_by_role("table", name="包括的相談支援事業")).to_contain_text("相談実人数")
    await expect(page.locator("figure[data-chart='escalations']")).to_have_count(0)  # nothing to draw

    # this quarter chosen: its column marked, the bars of that quarter
    await page.get_by_label(re.compile("期間")).select_option(str(quarter))
    await page.get_by_role("button", name=re.compile("表示")).click()
    await expect(meetings.locator("tr[data-key='jusou_shien_kaigi'] td.current")).to_have_text("3")
    await expect(page.get_by_role("img", name=re.compile(f"会議開催回数の第{quarter}四半期"))).to_be_visible()
    await shoot(page, "figures")
    await page.set_viewport_size({"width": 1280, "height": 1500})
    if IS_DEFAULT:  # the docs show Chofu's file; a run on another file keeps its own in test-artifacts (shoot above)
        DOCS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOCS / "figures.png"), full_page=False)

    # the CSV, as Excel opens it: UTF-8 with a BOM, Japanese headers, small cells as 「3未満」
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name=re.compile("CSV")).click()
    download = await download_info.value
    saved = Path(await download.path())
    data = saved.read_bytes()
    assert data.startswith("\ufeff".encode()) and download.suggested_filename == f"figures-{fy}.csv"
    text = data.decode("utf-8-sig")
    assert "事業,指標,内訳,単位" in text and ELDERLY.ja in text
    cells = ["0", "0", "0", "0"]
    cells[quarter - 1] = "3未満"
    assert f"相談受付件数,{HARDSHIP.ja},件,{','.join(cells)},3未満" in text, text[:800]
    shutil.rmtree(saved.parent, ignore_errors=True)

    # printed: the year selector and links go, the tables stay
    await page.emulate_media(media="print")
    await expect(page.get_by_role("button", name=re.compile("表示"))).to_be_hidden()
    await expect(consultations).to_be_visible()
