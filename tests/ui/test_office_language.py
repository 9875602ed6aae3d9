"""Pages that speak the office's language (issue 15).

Every page of every division, as every role sees it (tests/ui/every_page.py), and every CSV export,
shows no rule code (D2, D12…), action name (`audit.read`), route (`GET /reference/agencies`) or
English event name (`Case.Received`, `ConsultationReceived`); the rule may stay in a tooltip. Every
error on a page is a Japanese HTML page with the next step; the JSON API keeps its JSON errors.
A page whose words come from a service's own template and are not fixed yet is marked xfail (strict)
naming the finding (written out in the issue note for the service's engineer); a shared template's failure is never marked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from playwright.async_api import expect
from support.auth import ROLE_STAFF, reader, staff_headers
from support.journey import Journey
from support.municipality import ELDERLY

from jusou.runner import Suite
from shared.domain.access import Forbidden, OutOfScope
from shared.kernel.journey import Invalid
from shared.web.http import _install_error_handlers
from shared.web.limits import MAX_FORM_FIELD, form_guard
from shared.web.limits import install as install_limits
from shared.web.policy import ROLES
from shared.web.ui import HOME_ACTIONS, UI, Filters, filters_of, paged

from .conftest import shoot
from .every_page import (
    ALL_ROLES,
    SERVICES,
    Answer,
    codes_in,
    exports,
    fetch_all,
    filled,
    pages,
    reading,
    refused_links,
    role_cookie,
    selected,
    templates,
)

#: Pages whose words come from a service's own template, not fixed yet: (service, route) → the finding
#: (each written out, file and line, in the note's findings for the service's engineer). Remove a line
#: when its page is fixed: the mark is strict, so a fixed page fails here until then.
FINDINGS: dict[tuple[str, str], str] = {}


def _params(listing: Any) -> list[Any]:
    return [pytest.param(service, path, id=f"{service}{path}",
                         marks=[pytest.mark.xfail(strict=True, reason=FINDINGS[service, path])]
                         if (service, path) in FINDINGS else [])
            for service in SERVICES for path in listing(service)]


@pytest.fixture(scope="module")
def journey(walk_ids: dict[str, str]) -> dict[str, str]:
    return walk_ids


@pytest.fixture(scope="module")
async def answers(request: pytest.FixtureRequest, walk_suite: Suite,
                  journey: dict[str, str]) -> dict[tuple[str, str], Answer]:
    """Every page and every export (that this run tests) as every role got it: asked for at once
    (every_page.fetch_all), read by the tests below one page each."""
    urls = [walk_suite.url(service) + filled(path, journey, service) for service, path in selected(
        request, "test_no_page_shows_a_rule_code_an_action_a_route_or_an_english_event_name",
        "test_no_csv_export_shows_a_rule_code_an_action_a_route_or_an_english_event_name")]
    return await fetch_all((url, role) for url in urls for role in ALL_ROLES)


@pytest.mark.parametrize(("service", "path"), _params(pages))
def test_no_page_shows_a_rule_code_an_action_a_route_or_an_english_event_name(
        service: str, path: str, walk_suite: Suite, journey: dict[str, str], answers: dict[tuple[str, str], Answer]) -> None:
    url = walk_suite.url(service) + filled(path, journey, service)
    problems: dict[str, list[str]] = {}  # what was found → the roles (and the page's status) it was found for
    for role in ALL_ROLES:
        answer = answers[url, role]
        assert answer.status < 500 and answer.content_type.startswith("text/html"), (
            role, url, answer.status, answer.text[:300])
        text, links = reading(answer.text)
        found = codes_in(text) + [f"a link to a page this role may not open: {link}"
                                  for link in refused_links(service, role, links,
                                                            {name: walk_suite.url(name) for name in SERVICES})]
        for problem in found:
            problems.setdefault(problem, []).append(f"{role} {answer.status}")
    assert not problems, f"{service} {path}:\n" + "\n".join(
        f"{problem} [{', '.join(roles)}]" for problem, roles in list(problems.items())[:30])


@pytest.mark.parametrize(("service", "path"), _params(exports))
def test_no_csv_export_shows_a_rule_code_an_action_a_route_or_an_english_event_name(
        service: str, path: str, walk_suite: Suite, journey: dict[str, str], answers: dict[tuple[str, str], Answer]) -> None:
    url = walk_suite.url(service) + filled(path, journey, service)
    problems: list[str] = []
    read = 0
    for role in ALL_ROLES:
        answer = answers[url, role]
        if answer.status != 200:
            continue
        read += 1
        assert answer.content_type.startswith("text/csv"), (role, answer.content_type)
        problems += [f"{role}: {found}" for found in codes_in(answer.text)]
    assert read, f"no role could read {url}"
    assert not problems, f"{service} {path}:\n" + "\n".join(problems[:20])


def test_the_top_bar_knows_what_each_program_s_start_page_needs() -> None:
    import importlib

    from shared.web.policy import actions

    for service in SERVICES:
        assert "/ui/" in templates(service)
        declared = actions(importlib.import_module(f"services.{service}.main").api)["GET", "/ui/"]
        assert HOME_ACTIONS[service] == declared, (service, declared)


# -- every error on a page is a page ------------------------------------------------------------


@pytest.fixture
def errors() -> Iterator[TestClient]:
    """An app with the services' error handlers and a route for each kind of failure."""
    api = FastAPI()
    install_limits(api)
    _install_error_handlers(api, UI("intake", "包括的相談支援"))

    @api.get("/ui/boom")
    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail /srv/jusou/store.py line 12")

    @api.get("/ui/refused")
    def refused(request: Request) -> None:
        raise OutOfScope("このケースは障害福祉課の記録で、閲覧できません（D9）/ not your division's case")

    @api.get("/ui/rule")
    def rule() -> None:
        raise Invalid("本人同意のない相談は会議にかけられません（D9）/ no consent: not on a meeting (D9)")

    @api.get("/ui/cases/{case_id}")
    @api.get("/cases/{case_id}")
    def case(case_id: int) -> None:
        raise Forbidden("never reached")

    @api.post("/ui/forms", dependencies=[Depends(form_guard)])
    def form() -> None:
        raise AssertionError("form_guard lets no such form through")

    with TestClient(api, raise_server_exceptions=False) as client:
        yield client


def _japanese_page(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("text/html"), answer.text[:200]
    assert '<html lang="ja">' in answer.text and "次にできること" in answer.text, answer.text[:500]
    assert 'href="/ui/"' in answer.text, "a way on: the program's start page"
    return answer.text


def test_an_unknown_page_is_a_japanese_page_with_the_way_back_and_the_api_keeps_json(errors: TestClient) -> None:
    page = errors.get("/ui/no-such-page", headers={"referer": "http://testserver/ui/cases-table?page=2"})
    assert page.status_code == 404
    assert "見つかりません" in _japanese_page(page) and 'href="/ui/cases-table?page=2"' in page.text
    assert errors.get("/no-such-place").json()["detail"].startswith("このアドレスはありません")


def test_a_page_refuses_a_method_as_a_page_and_a_malformed_id_as_a_page(errors: TestClient) -> None:
    assert errors.post("/ui/boom").status_code == 405 and "この画面では" in _japanese_page(errors.post("/ui/boom"))
    malformed = errors.get("/ui/cases/not-a-number")
    assert malformed.status_code == 422 and "形式が正しくありません" in _japanese_page(malformed)
    assert "case_id" not in malformed.text
    assert errors.get("/cases/not-a-number").json()["detail"][0]["loc"] == ["path", "case_id"]


def test_a_form_the_guard_refuses_is_a_page_that_names_no_field_code(errors: TestClient) -> None:
    too_long = errors.post("/ui/forms", data={"support_direction": "長" * (MAX_FORM_FIELD + 1)})
    assert too_long.status_code == 422 and "文字以内" in _japanese_page(too_long)
    assert "support_direction" not in too_long.text
    control = errors.post("/ui/forms", data={"reason": "a\x07b"})
    assert control.status_code == 422 and "使えない文字" in _japanese_page(control) and "reason" not in control.text


def test_a_failure_on_a_page_gives_a_number_to_quote_and_no_traceback(errors: TestClient) -> None:
    page = errors.get("/ui/boom")
    assert page.status_code == 500 and "ヘルプデスク" in _japanese_page(page)
    assert "secret detail" not in page.text and "Traceback" not in page.text and "store.py" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    api = errors.get("/boom")
    assert api.status_code == 500 and api.json()["incident"] and "secret" not in api.text


def test_a_rule_a_message_names_stays_in_the_tooltip_not_in_the_text(errors: TestClient) -> None:
    page = errors.get("/ui/rule")
    assert page.status_code == 422
    text = _japanese_page(page)
    assert 'title="根拠となる規則: D9"' in text
    shown = text.replace('title="根拠となる規則: D9"', "")
    assert "D9" not in shown and "本人同意のない相談は会議にかけられません" in shown


def test_a_record_of_another_division_is_refused_as_a_page_that_says_whose_it_is(errors: TestClient) -> None:
    page = errors.get("/ui/refused")
    assert page.status_code == 403 and "障害福祉課" in _japanese_page(page)
    assert page.headers["x-jusou-refused-by"] == "scope"


async def test_a_role_the_policy_refuses_is_told_who_may_use_the_page(walk_suite: Suite, journey: dict[str, str],
                                                                     browser: Any) -> None:
    base = walk_suite.url("intake")
    context = await browser.new_context(locale="ja-JP")
    await context.add_cookies([role_cookie("community_worker", base)])
    page = await context.new_page()
    response = await page.goto(f"{base}/ui/audit/cases/{journey['case_id']}")
    assert response is not None and response.status == 403
    body = await page.inner_text("main")
    assert "権限がありません" in body and ROLES["auditor"].ja in body and ROLES["supervisor"].ja in body
    assert ROLES["community_worker"].ja not in body.split("使えるのは")[-1]
    await shoot(page, "error-403-who-may")
    # the way on leads where this reader may go: not this program's start page, but their own program's
    await expect(page.get_by_role("link", name="この事業のトップへ / to this program's start page")).to_have_count(0)
    await expect(page.get_by_role("navigation", name="事業 / programs").get_by_role("link")).to_have_count(1)
    await page.get_by_role("link", name="地域づくりへ / to community").click()
    await expect(page.get_by_role("heading", level=2).first).to_be_visible()
    assert page.url.startswith(walk_suite.url("community") + "/ui/")
    await context.close()


async def test_an_unknown_page_in_the_browser_is_the_suite_s_page_with_the_way_back(walk_suite: Suite,
                                                                                  browser: Any) -> None:
    base = walk_suite.url("meeting")
    context = await browser.new_context(locale="ja-JP")
    await context.add_cookies([role_cookie("secretariat", base)])
    page = await context.new_page()
    response = await page.goto(f"{base}/ui/meetings/not-a-meeting")
    assert response is not None and response.status == 422
    await expect(page.get_by_role("alert")).to_contain_text("形式が正しくありません")
    response = await page.goto(f"{base}/ui/no-such-page")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="ページまたは記録が見つかりません / not found")).to_be_visible()
    await expect(page.locator(".who")).to_contain_text("kaigi-001")  # the header still knows who reads
    await shoot(page, "error-404")
    await page.get_by_role("link", name="この事業のトップへ / to this program's start page").click()
    await expect(page).to_have_url(f"{base}/ui/")
    await context.close()


async def test_the_skip_link_leads_to_the_page_s_content_and_a_list_pages(walk_suite: Suite, journey: dict[str, str],
                                                                          browser: Any) -> None:
    base = walk_suite.url("intake")
    context = await browser.new_context(locale="ja-JP")
    await context.add_cookies([role_cookie("counselor", base)])
    page = await context.new_page()
    await page.goto(f"{base}/ui/log")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="本文へ移動 / skip to content")
    assert await skip.evaluate("e => e === document.activeElement")
    await page.keyboard.press("Enter")
    assert await page.evaluate("() => document.activeElement.id") == "main"
    await page.goto(f"{base}/ui/log?per_page=2&page=2")  # the shared pager, on the shared 記録 page
    pager = page.get_by_role("navigation", name="記録のページ / pages")
    await expect(pager).to_contain_text("件中 3–4件")
    await shoot(page, "list-with-pager")
    await pager.get_by_role("link", name="次へ / next").click()
    await expect(pager).to_contain_text("件中 5–")
    await context.close()


def test_a_list_pages_its_rows_within_bounds_and_keeps_its_filters() -> None:
    def request(query: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/ui/cases-table", "query_string": query.encode(),
                        "headers": []})

    rows = list(range(1, 121))
    shown, paging = paged(request("status=open&page=2"), rows)
    assert shown == list(range(51, 101)) and (paging.first, paging.last, paging.total, paging.pages) == (51, 100, 120, 3)
    assert paging.previous_url == "?status=open&page=1" and paging.next_url == "?status=open&page=3"
    shown, paging = paged(request("page=99&per_page=100000"), rows)
    assert paging.per_page == 200 and paging.page == 1 and len(shown) == 120 and paging.next_url is None
    shown, paging = paged(request("page=-1&per_page=x"), rows)
    assert paging.page == 1 and paging.per_page == 50


def test_a_list_s_filter_bar_keeps_the_rows_asked_for_and_shows_what_was_chosen() -> None:
    rows = [{"status": "open", "counter": ELDERLY.code, "assignee": "kouki-012", "received_at": "2026-11-30T20:00:00+00:00"},
            {"status": "open", "counter": "kodomo", "assignee": "", "received_at": "2026-12-02T01:00:00+00:00"},
            {"status": "closed", "counter": ELDERLY.code, "assignee": "kouki-012", "received_at": "2026-12-03T01:00:00+00:00"}]
    request = Request({"type": "http", "method": "GET", "path": "/ui/", "headers": [],
                       "query_string": b"status=open&assignee=kouki-012&from=2026-12-01&to=not-a-date"})
    chosen = filters_of(request)
    assert (chosen.status, chosen.assignee, chosen.since, chosen.until) == ("open", "kouki-012", date(2026, 12, 1), None)
    assert chosen.apply(rows) == [rows[0]], "20:00 UTC on 30 November is 1 December in Japan"
    assert Filters(counter=ELDERLY.code).apply(rows) == [rows[0], rows[2]]
    assert Filters(until=date(2026, 12, 1)).apply(rows) == [rows[0]]
    bar = UI("intake", "包括的相談支援").templates.env.from_string(
        '{% from "_lists.html" import filter_bar %}{{ filter_bar(f, statuses={"open": "対応中", "closed": "終了"}, '
        'assignees={"kouki-012": "高木"}) }}').render(f=chosen)
    assert '<option value="open" selected>対応中</option>' in bar and '<option value="closed">終了</option>' in bar
    assert '<option value="kouki-012" selected>高木</option>' in bar and 'value="2026-12-01"' in bar
    assert 'name="counter"' not in bar, "a choice the list does not give is not shown"
    assert 'href="?">解除' in bar


# -- a refusal beside a form speaks the office's language too (HC's review) ----------------------------------------

#: what a template shows as a refusal or a message beside a form: `error`, `errors[...]`, `refused.message`, `*_error`,
#: `closure.error`, the top bar's `flash`, an error page's `message`
_REFUSAL = re.compile(r"\{\{\s*((?:[\w.]+\.)?(?:error|errors\[[^\]]+\]|message|flash|\w+_error)(?:\.message)?)\s*(\|[^}]*)?\}\}")
_TEMPLATES = sorted([*Path(__file__).resolve().parents[2].glob("services/*/templates/*.html"),
                     *Path(__file__).resolve().parents[2].glob("shared/web/templates/*.html")])


def test_every_template_shows_a_refusal_through_office_text() -> None:
    """A refusal comes from the domain with its rule code and, at times, the API's route (integrators read them in the
    JSON API); a page shows it through `office_text`. Before, 「…一覧から選んでください / … (GET /reference/agencies)」
    and 「…承認できません… (D5)」 stood beside the forms as the domain wrote them."""
    shown = [(template.relative_to(template.parents[2]), match.group(1), match.group(2) or "")
             for template in _TEMPLATES for match in _REFUSAL.finditer(template.read_text())]
    assert len(shown) >= 40, shown  # the walk found them: a change of the markup must not empty this test
    bare = [(str(where), expression) for where, expression, filters in shown if "office_text" not in filters]
    assert not bare, bare


def test_office_text_keeps_the_rule_in_the_tooltip_and_names_lists_not_routes() -> None:
    from shared.web.ui import office_text

    shown = office_text("異議が残っているため承認できません: 地域包括支援センター（未定）。/ an objection is open (D5)")
    assert shown.startswith('<span title="根拠となる規則: D5">') and "D5" not in shown.replace('title="根拠となる規則: D5"', "")
    assert "異議が残っているため承認できません" in shown
    for message in (("主担当機関「X」は機関の一覧にありません。一覧から選んでください / unknown primary agency 'X': choose one of "
                     "the city's agencies (GET /reference/agencies)"),
                    ("機関のコード 'c:x' は自治体ファイルにありません / the municipality file has no agency 'c:x': choose one "
                     "of GET /reference/agencies or write its name"),
                    "資源 r は参加支援の資源一覧にありません (GET /catalogue) / resource r is not in participation's catalogue",
                    "相談の受付（Case.Received）の後に ConsultationReceived が届きます（intake.case.write）（D1, D2）"):
        text = str(office_text(message))
        assert not codes_in(text.split('">', 1)[-1]), (message, text)
    assert "choose one of the list of agencies or write its name" in office_text(
        "… / choose one of GET /reference/agencies or write its name")
    assert str(office_text("<b>本人</b>の同意（D9）")).endswith("&lt;b&gt;本人&lt;/b&gt;の同意</span>"), "escaped"


async def _refusal(page: Any, where: str) -> str:
    """The refusal shown beside the form, once it is there: its text as a reader meets it (not the tooltip)."""
    shown = page.locator(where)
    await expect(shown).to_be_visible()
    return str(await shown.inner_text())


async def test_a_refusal_beside_a_form_shows_no_rule_code_or_route_in_the_browser(walk_suite: Suite,
                                                                                  browser: Any) -> None:
    """Forms posted in the browser and refused: the counter's escalation to an agency the city does not know (the
    domain's message names `GET /reference/agencies`), the meeting convened without attendees and a decision to approve
    with an objection open (both 「(D5)」). Each message is read as staff read it, beside its form."""
    urls = {name: walk_suite.url(name) for name in SERVICES}
    async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
        journey = Journey(urls, client)
        fresh = await journey.post("intake", "/consultations", {
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"], "confirm_new_person": True,
            "person": {"name": "府中 澄子", "birth_date": "1950-03-03"}}, journey_headers("counselor"))
        case_id = await journey.receive_and_escalate()
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed", "the agenda")
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    try:
        intake, meeting = urls["intake"], urls["meeting"]
        await context.add_cookies([role_cookie("counselor", intake)])  # one cookie for the host: its ports share it
        page = await context.new_page()
        await page.goto(f"{intake}/ui/cases/{fresh['case_id']}")
        await page.locator("#escalate-reason").fill("母の介護と家計")
        await page.locator("#primary_agency").fill("存在しない機関")
        await page.get_by_role("button", name="多機関協働事業へつなぐ").click()
        said = {"escalation": await _refusal(page, "#error-escalate")}
        assert "一覧から選んでください" in said["escalation"]

        await context.add_cookies([role_cookie("secretariat", meeting)])
        await page.goto(f"{meeting}/ui/")
        await page.locator("#type-jusou").check()
        await page.locator("#held_on").fill("2026-12-04")
        await page.get_by_role("button", name="開催する / convene").click()
        said["convene"] = await _refusal(page, "#convene-error")
        assert "出席機関を1つ以上選んでください" in said["convene"]

        await page.goto(f"{meeting}/ui/meetings/{meeting_id}")
        item = page.locator(f"#plan-{plan_id[:8]}")
        await item.locator("input[name='position-0'][value='agree']").check()
        await item.locator("input[name='position-1'][value='object']").check()
        await item.locator("input[name='reason-1']").fill("家計の見通しが立っていない")
        await item.locator("input[name='position-2'][value='agree']").check()
        await item.locator("input[name='decision'][value='approved']").check()
        await item.get_by_label(re.compile("決定の理由")).fill("合意")
        await item.get_by_role("button", name=re.compile("決定を記録する")).click()
        said["decision"] = await _refusal(page, f"#error-{plan_id[:8]}")
        assert "異議が残っているため承認できません" in said["decision"]
        assert await page.locator(f"#error-{plan_id[:8]} [title='根拠となる規則: D5']").count() == 1, "the rule in the tooltip"
        await shoot(page, "refusal-in-office-words")
        found = {form: codes_in(text) for form, text in said.items() if codes_in(text)}
        assert not found, found
    finally:
        await context.close()
    async with httpx.AsyncClient(timeout=30) as client:  # the JSON API keeps its codes: integrators read them
        refused = await client.post(f"{intake}/cases/{fresh['case_id']}/escalate", headers=journey_headers("counselor"),
                                    json={"reason": "x", "primary_agency": "存在しない機関"})
        assert refused.status_code == 422 and "GET /reference/agencies" in refused.json()["detail"], refused.text


def journey_headers(role: str) -> dict[str, str]:
    return staff_headers(*ROLE_STAFF[role], role)
