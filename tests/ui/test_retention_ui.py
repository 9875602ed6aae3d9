"""保存年限 (issue 17) on a running suite: a case closed at the counter is past its period only once the period
has passed (judged as of a later day with `as_of`, then with a period of 0 years in the data folder's
retention.toml, since an erasure is judged on today's date only); a supervisor erases its person from
/ui/retention after a confirm step; the audit records the erasure with its basis 保存期間満了 and the person's
information can no longer be read. Refused: another role, another division's supervisor, a cross-site post,
numbers out of bounds, an erasure before expiry, and a second erasure. One suite for the API and the browser."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from support.auth import sign_in, staff_headers
from support.journey import Journey
from support.municipality import CHILDCARE, DISABILITY, ELDERLY, LEAD, concern
from support.poll import eventually

from jusou.runner import Suite
from shared.domain.retention import KINDS, add_years
from shared.domain.wareki import today_in_japan as today
from shared.web.retention_api import sealed

from .conftest import SERVICES, shoot

pytestmark = pytest.mark.own_suite  # an empty suite: it lists what is past its period, and sets the period to 0 years

COUNTER = staff_headers("kouki-012", ELDERLY.division, "counselor")
SUPERVISOR = staff_headers("kanri-001", ELDERLY.division, "supervisor")
OTHER_SUPERVISOR = staff_headers("kanri-009", DISABILITY.division, "supervisor")  # a division the case never had
AUDITOR = staff_headers("kansa-001", LEAD, "auditor")
PERSON = {"name": "深大寺 鶫", "kana": "じんだいじ つぐみ", "birth_date": "1948-03-03", "phone": "042-555-0177",
          "address": "調布市深大寺元町九丁目"}


async def listed(http: httpx.AsyncClient, base: str, headers: dict[str, str] = AUDITOR, **query: Any) -> list[dict[str, Any]]:
    answer = await http.get(f"{base}/retention", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_retention_a_closed_case_past_its_period_is_erased_at_expiry_from_the_page(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30) as http:
        made = await http.post(intake + "/consultations", headers=COUNTER, json={
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "person": PERSON,
            "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        person_ref = (await http.get(f"{intake}/cases/{case_id}", headers=AUDITOR)).json()["person_ref"]
        closed = await http.post(f"{intake}/cases/{case_id}/closure", headers=COUNTER,
                                 json={"outcome": "resolved", "note": "地域の見守りにつないだ"})
        assert closed.status_code == 200, closed.text

        # every program answers its list; nothing is past today with the default periods (5 years)
        for service in SERVICES:
            assert (await listed(http, ui_suite.url(service))) == [], service
        (mine,) = [r for r in await listed(http, intake, state="all") if r["key"] == case_id]
        assert (mine["closed_on"], mine["years"], mine["past"]) == (today().isoformat(), 5, False)
        ahead = add_years(today(), 5)
        assert [r for r in await listed(http, intake, as_of=(ahead - timedelta(days=1)).isoformat())] == []
        rows = {r["kind"]: r for r in await listed(http, intake, as_of=ahead.isoformat(), headers=SUPERVISOR)}
        assert rows["case"]["key"] == case_id and rows["case"]["due_on"] == ahead.isoformat()
        assert rows["person"]["key"] == person_ref and rows["person"]["case_ids"] == [case_id]

        # refusals: roles, division, bounds, too soon
        erase = f"{intake}/retention/persons/{person_ref}/erasure"
        assert (await http.get(f"{intake}/retention", headers=COUNTER)).status_code == 403
        assert (await http.post(erase, json={}, headers=AUDITOR)).status_code == 403
        other = await http.post(erase, json={}, headers=OTHER_SUPERVISOR)
        assert other.status_code == 403, other.text
        for query in ({"limit": 10**12}, {"as_of": "99999-01-01"}, {"state": "everything"}, {"cursor": "!!"}):
            refused = await http.get(f"{intake}/retention", params=query, headers=AUDITOR)
            assert refused.status_code == 422, (query, refused.text)
        assert (await http.post(erase, json={"note": "x" * 501}, headers=SUPERVISOR)).status_code == 422
        too_soon = await http.post(erase, json={}, headers=SUPERVISOR)
        assert too_soon.status_code == 409 and too_soon.json()["code"] == "retention_not_expired", too_soon.text

        # the period has passed: as the data folder's file says (read at each request)
        (ui_suite.data_dir / "retention.toml").write_text("[retention]\ncase = 0\nperson = 0\n", encoding="utf-8")
        assert {(r["kind"], r["key"]) for r in await listed(http, intake, headers=SUPERVISOR)} == {
            ("case", case_id), ("person", person_ref)}

    await sign_in(page, intake, "kanri-001", ELDERLY.division, "supervisor")
    await page.goto(f"{intake}/ui/retention")
    row = page.locator(f"tr[data-kind='person'][data-key='{person_ref}']")
    await expect(row).to_contain_text("相談者の個人情報")
    await expect(page.locator(f"tr[data-kind='case'][data-key='{case_id}']")).to_contain_text("0年")
    await shoot(page, "intake-retention")
    await row.get_by_role("link", name=re.compile("消去へ進む")).click()
    await expect(page.locator("#retention-person")).to_contain_text("0年")
    await page.locator("#retention-note").fill("文書管理規則による年次の消去")
    await shoot(page, "intake-retention-confirm")

    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(timeout=30, cookies=cookies) as http:  # a cross-site post with the browser's cookie
        forged = await http.post(f"{intake}/ui/retention/persons/{person_ref}/erasure", data={"note": "x"},
                                 headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert forged.status_code == 403, forged.text

    await page.locator("#retention-erase").click()
    await expect(page.get_by_role("alert")).to_contain_text("消去しました")
    await expect(page.locator(f"tr[data-kind='person'][data-key='{person_ref}']")).to_have_count(0)
    await shoot(page, "intake-retention-erased")

    async with httpx.AsyncClient(timeout=30) as http:
        again = await http.post(f"{intake}/retention/persons/{person_ref}/erasure", json={}, headers=SUPERVISOR)
        assert again.status_code == 409 and again.json()["code"] == "person_erased", again.text
        audit = await http.get(f"{intake}/audit/people/{person_ref}/disclosures", headers=AUDITOR)
        assert audit.status_code == 200, audit.text
        (erased,) = [r for r in audit.json() if r["action"] == "erased"]
        assert (erased["basis"], erased["staff_id"]) == ("retention_expired", "kanri-001"), erased
        assert "保存年限（0年）経過" in erased.get("reason", "") + str(erased), erased
        shown = await http.get(f"{intake}/cases/{case_id}/person", params={"basis": "own_counter"}, headers=COUNTER)
        assert shown.status_code == 200 and shown.json()["name"] != PERSON["name"], shown.text
        assert shown.json()["erased"]["basis"] == "retention_expired"
        assert not [v for v in PERSON.values() if v in shown.text]


async def test_retention_every_program_lists_its_own_record_of_a_whole_journey_once_past(ui_suite: Suite) -> None:
    """The stored events of a real journey complete each program's record: collaboration's by the plan's 終結, the
    meeting's sitting by its last entry, participation's support (no plan of its own) with the case at intake."""
    urls = {name: ui_suite.url(name) for name in SERVICES}
    async with httpx.AsyncClient(timeout=30, headers=AUDITOR) as http:
        case_id, _ = await Journey(urls, http).whole()
        (ui_suite.data_dir / "retention.toml").write_text("[retention]\n" + "".join(f"{k} = 0\n" for k in KINDS),
                                                          encoding="utf-8")

        async def past_everywhere() -> dict[str, set[str]] | None:
            found = {name: {r["kind"] for r in await listed(http, url) if case_id in r["case_ids"]}
                     for name, url in urls.items()}
            return found if found["intake"] >= {"case", "person"} and found["participation"] else None

        found = await eventually(past_everywhere, "every program's record of the journey to be past 0 years")
    assert found == {"intake": {"case", "person"}, "collaboration": {"collaboration_case"}, "meeting": {"meeting"},
                     "outreach": set(), "participation": {"support"}, "community": set()}, found


async def test_retention_a_supervisor_reads_only_the_rows_of_their_divisions_scope(ui_suite: Suite, page: Page) -> None:
    """Division scope (issue 13) on the retention list, JSON and page: a case received at one division's counter and
    closed there is listed (with its person, once past) to that division's supervisor and to the auditor, never to
    another division's supervisor."""
    intake = ui_suite.url("intake")
    childcare_counter = staff_headers("hoiku-003", CHILDCARE.division, "counselor")
    childcare_supervisor = staff_headers("hoiku-kanri", CHILDCARE.division, "supervisor")
    made: dict[str, tuple[str, str]] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for name, counter, headers, concern_ in (("elderly", ELDERLY.code, COUNTER, "高齢・介護"),
                                                  ("childcare", CHILDCARE.code, childcare_counter, concern("childcare"))):
            answer = await http.post(intake + "/consultations", headers=headers, json={
                "counter": counter, "channel": "窓口", "concerns": [concern_], "confirm_new_person": True,
                "person": {**PERSON, "name": f"範囲 {name}", "phone": "042-555-0190"}})
            assert answer.status_code == 201, answer.text
            case_id = answer.json()["case_id"]
            closed = await http.post(f"{intake}/cases/{case_id}/closure", headers=headers,
                                     json={"outcome": "resolved", "note": "情報提供で終了"})
            assert closed.status_code == 200, closed.text
            person_ref = (await http.get(f"{intake}/cases/{case_id}", headers=AUDITOR)).json()["person_ref"]
            made[name] = (case_id, person_ref)
        (ui_suite.data_dir / "retention.toml").write_text("[retention]\n" + "".join(f"{k} = 0\n" for k in KINDS),
                                                          encoding="utf-8")
        mine = {"elderly": SUPERVISOR, "childcare": childcare_supervisor}
        for name, headers in mine.items():
            other = next(n for n in made if n != name)
            for state in ("all", "past"):
                keys = {r["key"] for r in await listed(http, intake, headers=headers, state=state)}
                assert made[name][0] in keys and not set(made[other]) & keys, (name, state, keys)
            # what intake asks to judge a person on every program's records: the others sealed, no id of theirs
            sealed_rows = [r for r in await listed(http, intake, headers=headers, state="all", withheld="true")
                           if r["withheld"]]
            assert sealed(made[other][0]) in {r["key"] for r in sealed_rows}, (name, sealed_rows)
            assert not [r for r in sealed_rows if made[other][0] in str(r)], sealed_rows
        keys = {r["key"] for r in await listed(http, intake)}  # the auditor reads every division's
        assert {*made["elderly"], *made["childcare"]} <= keys

    await sign_in(page, intake, "hoiku-kanri", CHILDCARE.division, "supervisor")
    await page.goto(f"{intake}/ui/retention")
    await expect(page.locator(f"tr[data-kind='person'][data-key='{made['childcare'][1]}']")).to_have_count(1)
    await expect(page.locator(f"tr[data-key='{made['elderly'][0]}']")).to_have_count(0)
    await expect(page.locator(f"tr[data-key='{made['elderly'][1]}']")).to_have_count(0)


async def test_retention_a_day_not_in_the_date_form_is_refused_not_shown_as_today(ui_suite: Suite, page: Page) -> None:
    intake = ui_suite.url("intake")
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.get(f"{intake}/retention", params={"as_of": "junk"}, headers=AUDITOR)
        assert refused.status_code == 422, refused.text
    await sign_in(page, intake, "kanri-001", ELDERLY.division, "supervisor")
    answer = await page.goto(f"{intake}/ui/retention?as_of=junk")
    assert answer is not None and answer.status == 422
    await expect(page.locator("#retention-as-of-error")).to_contain_text("基準日「junk」の形式が正しくありません")
