"""Browser sessions at the running suite (issue 13, item 7; and item 6's unexpected token algorithms).

- CSRF: a page on another port of the same host (same-site, so SameSite=Lax does not help) cannot
  make a signed-in browser change anything: every cookie-authenticated POST under /ui/ needs the
  form's CSRF token and a same-origin request; the JSON API takes only `Authorization: Bearer`.
- Sign-in is throttled per account and per address, and an unknown staff id costs what a known one does.
- Signing out (a POST) and `jusou staff remove` end the session at once at all six services.
- Every response carries the security headers; the pages need no inline script or style; /docs loads
  nothing from another host; links do not follow the Host header; page messages come from a fixed set
  (or are signed by the session); the data folder is private.
"""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.auth import PASSWORD, account, reader, token
from support.municipality import ELDERLY, LEAD
from support.servers import free_port

from jusou.runner import Suite
from security.conftest import COUNTER_STAFF, SERVICES
from shared.web.auth import COOKIE

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = ("kanri-012", ELDERLY.division, "supervisor")  # the counter's division: it reads the case
JA_AND_EN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff].* / .*[A-Za-z]")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page's forms carry no CSRF field"
    return found.group(1)


def new_case(suite: Suite, name: str) -> tuple[str, str]:
    """A consultation with a person at intake: (case_id, person_ref)."""
    made = httpx.post(suite.url("intake") + "/consultations", trust_env=False, headers=COUNTER_STAFF, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"],
        "person": {"name": name, "birth_date": "1950-04-01"}, "confirm_new_person": True})
    assert made.status_code in (200, 201), made.text
    case_id = made.json()["case_id"]
    person_ref = httpx.get(suite.url("intake") + f"/cases/{case_id}", headers=reader(), trust_env=False).json()["person_ref"]
    return case_id, person_ref


def erased(suite: Suite, case_id: str) -> bool:
    history = httpx.get(suite.url("intake") + f"/cases/{case_id}/history", headers=reader(), trust_env=False).json()
    return any("Erased" in json.dumps(row, ensure_ascii=False) for row in history)


# --- CSRF ------------------------------------------------------------------------------------------


def test_csrf_a_cross_site_form_post_to_erase_a_person_is_refused_and_nothing_recorded(own_suite: Suite) -> None:
    intake = own_suite.url("intake")
    case_id, person_ref = new_case(own_suite, "調布 越境")
    form = {"case_id": case_id, "basis": "retention_expired", "reason": "保存期間の満了", "idempotency_key": "k-1"}
    other_port = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(trust_env=False, cookies={COOKIE: token(*SUPERVISOR)}) as browser:
        attacks = {
            "another port's page": {"Origin": other_port, "Sec-Fetch-Site": "same-site"},
            "another port's page, an old browser": {"Origin": other_port},
            "a page of no origin": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
            "no token at all": {},
        }
        for what, headers in attacks.items():
            refused = browser.post(f"{intake}/ui/persons/{person_ref}/erasure", data=form, headers=headers)
            assert refused.status_code == 403, (what, refused.status_code, refused.headers.get("location"))
            assert "CSRF" in refused.text or "別のサイト" in refused.text, (what, refused.text[:300])
        wrong = browser.post(f"{intake}/ui/persons/{person_ref}/erasure", data={**form, "csrf_token": "x" * 43},
                             headers={"Origin": intake, "Sec-Fetch-Site": "same-origin"})
        assert wrong.status_code == 403, wrong.text[:300]
        someone_elses = csrf_of(httpx.get(f"{intake}/ui/log", trust_env=False, cookies={
            COOKIE: token("kanri-013", ELDERLY.division, "supervisor")}).text)
        theirs = browser.post(f"{intake}/ui/persons/{person_ref}/erasure", data={**form, "csrf_token": someone_elses})
        assert theirs.status_code == 403, theirs.text[:300]
        assert not erased(own_suite, case_id)

        # the supervisor's own page: its form's token, sent from the page's origin, erases
        page = browser.get(f"{intake}/ui/cases/{case_id}")
        done = browser.post(f"{intake}/ui/persons/{person_ref}/erasure", data={**form, "csrf_token": csrf_of(page.text)},
                            headers={"Origin": intake, "Sec-Fetch-Site": "same-origin"})
        assert done.status_code == 303, done.text[:300]
        assert erased(own_suite, case_id)


def test_csrf_the_json_api_refuses_the_ui_cookie(own_suite: Suite) -> None:
    cookie = {COOKIE: token("kouki-012", ELDERLY.division, "counselor")}
    body = {"counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護"],
            "person": {"name": "調布 クッキー", "birth_date": "1950-04-01"}, "confirm_new_person": True}
    for service in SERVICES:
        read = httpx.get(own_suite.url(service) + "/reference/divisions", cookies=cookie, trust_env=False)
        assert read.status_code == 401, (service, read.status_code)
        assert read.headers["www-authenticate"].startswith("Bearer")
    made = httpx.post(own_suite.url("intake") + "/consultations", json=body, cookies=cookie, trust_env=False)
    assert made.status_code == 401, made.text
    assert httpx.get(own_suite.url("intake") + "/ui/", cookies=cookie, trust_env=False).status_code == 200
    assert httpx.get(own_suite.url("intake") + "/reference/divisions", trust_env=False,
                     headers={"Authorization": f"Bearer {cookie[COOKIE]}"}).status_code == 200


def test_csrf_sign_in_from_another_sites_page_is_refused(own_suite: Suite) -> None:
    account("chiiki-login", LEAD, "community_worker")
    refused = httpx.post(own_suite.url("outreach") + "/ui/login", trust_env=False,
                         data={"staff_id": "chiiki-login", "password": PASSWORD},
                         headers={"Origin": f"http://127.0.0.1:{free_port()}", "Sec-Fetch-Site": "same-site"})
    assert refused.status_code == 403 and COOKIE not in refused.cookies, refused.text[:300]


# --- sign-in throttling and the staff-id oracle ------------------------------------------------------


def test_throttle_61_wrong_passwords_for_one_account_are_stopped_with_429(own_suite: Suite) -> None:
    community = own_suite.url("community")
    account("chiiki-guess", LEAD, "community_worker")

    def guess(n: int) -> httpx.Response:
        return httpx.post(community + "/ui/login", trust_env=False, timeout=60,
                          data={"staff_id": "chiiki-guess", "password": f"guess-{n}"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(guess, range(61)))
    tried = [a for a in answers if a.status_code == 303]
    throttled = [a for a in answers if a.status_code == 429]
    assert len(tried) + len(throttled) == 61, [a.status_code for a in answers]
    assert len(tried) <= 10, f"{len(tried)} wrong passwords were tried"
    assert int(throttled[0].headers["retry-after"]) > 0
    assert "試行" in throttled[0].text and "too many" in throttled[0].text
    # while it lasts, even the right password waits (a guess could be right)
    right = httpx.post(community + "/ui/login", trust_env=False, data={"staff_id": "chiiki-guess", "password": PASSWORD})
    assert right.status_code == 429 and COOKIE not in right.cookies


def test_throttle_one_address_trying_many_staff_ids_is_stopped_with_429(own_suite: Suite) -> None:
    community = own_suite.url("community")

    def guess(n: int) -> int:
        return httpx.post(community + "/ui/login", trust_env=False, timeout=60,
                          data={"staff_id": f"nobody-{n}", "password": "guess"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(guess, range(61)))
    assert statuses.count(429) >= 1 and statuses.count(303) <= 50, statuses


# --- sessions end at once everywhere ----------------------------------------------------------------


def signed_in(suite: Suite, service: str, staff_id: str, division: str, role: str) -> httpx.Client:
    account(staff_id, division, role)
    browser = httpx.Client(trust_env=False)
    answer = browser.post(suite.url(service) + "/ui/login", data={"staff_id": staff_id, "password": PASSWORD})
    assert answer.status_code == 303 and COOKIE in browser.cookies, answer.text[:300]
    return browser


def works_everywhere(suite: Suite, signed: str) -> dict[str, tuple[int, int]]:
    """Each service: (its page with the cookie, its API with the token as Bearer)."""
    return {service: (httpx.get(suite.url(service) + "/ui/log", cookies={COOKIE: signed}, trust_env=False).status_code,
                      httpx.get(suite.url(service) + "/reference/divisions", trust_env=False,
                                headers={"Authorization": f"Bearer {signed}"}).status_code)
            for service in SERVICES}


def test_sessions_signing_out_is_a_post_that_ends_the_session_at_every_service(own_suite: Suite) -> None:
    browser = signed_in(own_suite, "outreach", "outreach-out", LEAD, "outreach_worker")
    signed = browser.cookies[COOKIE]
    assert set(works_everywhere(own_suite, signed).values()) == {(200, 200)}  # and now remembered for 60 s

    browser.get(own_suite.url("outreach") + "/ui/logout")  # a link (or an image on another page) signs no one out
    assert set(works_everywhere(own_suite, signed).values()) == {(200, 200)}
    page = browser.get(own_suite.url("outreach") + "/ui/log")
    assert 'action="/ui/logout"' in page.text
    out = browser.post(own_suite.url("outreach") + "/ui/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303, out.text[:300]

    after = works_everywhere(own_suite, signed)
    assert all(ui == 303 and api == 401 for ui, api in after.values()), after
    refused = httpx.get(own_suite.url("meeting") + "/reference/divisions", trust_env=False,
                        headers={"Authorization": f"Bearer {signed}"})
    assert "ログイン" in refused.json()["detail"] and JA_AND_EN.search(refused.json()["detail"])


def test_sessions_jusou_staff_remove_ends_the_members_sessions_at_every_service(own_suite: Suite) -> None:
    browser = signed_in(own_suite, "meeting", "kaigi-removed", LEAD, "secretariat")
    signed = browser.cookies[COOKIE]
    minted = subprocess.run([sys.executable, "-m", "jusou.cli", "token", "kaigi-removed"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    assert set(works_everywhere(own_suite, signed).values()) == {(200, 200)}
    assert set(works_everywhere(own_suite, minted).values()) == {(200, 200)}

    subprocess.run([sys.executable, "-m", "jusou.cli", "staff", "remove", "kaigi-removed"], cwd=ROOT, check=True,
                   capture_output=True)

    for signed_token in (signed, minted):
        after = works_everywhere(own_suite, signed_token)
        assert all(ui == 303 and api == 401 for ui, api in after.values()), after
    # the same id added again (a new member, or the same one back) signs in afresh
    again = signed_in(own_suite, "meeting", "kaigi-removed", LEAD, "secretariat")
    assert set(works_everywhere(own_suite, again.cookies[COOKIE]).values()) == {(200, 200)}


# --- headers, pages, docs, links, messages, files ---------------------------------------------------


def test_headers_every_response_carries_the_security_headers(own_suite: Suite) -> None:
    for service in SERVICES:
        base = own_suite.url(service)
        for path, headers in (("/healthz", {}), ("/ui/login", {}), ("/docs", {}), ("/openapi.json", {}),
                              ("/no-such-page", {}), ("/reference/divisions", {}), ("/ui/static/jusou.js", {}),
                              ("/ui/log", {"cookie": f"{COOKIE}={token(*SUPERVISOR)}"})):
            answer = httpx.get(base + path, headers=headers, trust_env=False)
            where = f"{service} {path} ({answer.status_code})"
            csp = answer.headers.get("content-security-policy", "")
            directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
            assert directives.get("frame-ancestors") == ["'none'"], where
            assert directives.get("script-src") == ["'self'"], (where, csp)
            assert directives.get("default-src") == ["'self'"] and directives.get("object-src") == ["'none'"], where
            assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, where
            assert answer.headers.get("x-content-type-options") == "nosniff", where
            assert answer.headers.get("referrer-policy") in ("same-origin", "no-referrer"), where
            assert answer.headers.get("x-frame-options") == "DENY", where


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def test_headers_templates_hold_no_inline_script_handler_or_style() -> None:
    """What the CSP would block in a page: an inline <script>, an on… handler, a style attribute or element."""
    templates = [*(ROOT / "shared" / "web" / "templates").glob("*.html"), *(ROOT / "services").glob("*/templates/*.html")]
    assert len(templates) > 30
    found: list[str] = []
    for path in templates:
        parsed = Tags()
        parsed.feed(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        if parsed.inline_scripts:
            found.append(f"{where}: inline <script>")
        for tag, attrs in parsed.tags:
            found += [f"{where}: <{tag} {a}=…>" for a in attrs if a.startswith("on") or a == "style"]
            if tag == "style":
                found.append(f"{where}: <style>")
    assert not found, "\n".join(found)


def test_docs_the_api_documents_load_nothing_from_another_host(own_suite: Suite) -> None:
    for service in ("intake", "community"):
        base = own_suite.url(service)
        docs = httpx.get(base + "/docs", trust_env=False)
        assert docs.status_code == 200
        parsed = Tags()
        parsed.feed(docs.text)
        assert parsed.inline_scripts == 0, "an inline script: the CSP would stop it"
        assets = [a.get("src") or a.get("href") for t, a in parsed.tags if t in ("script", "link") and
                  (a.get("src") or a.get("href"))]
        assert any(str(a).endswith(".js") for a in assets), assets
        for asset in assets:
            assert not urlsplit(str(asset)).netloc, f"/docs loads {asset} from another host"
            assert httpx.get(base + str(asset), trust_env=False).status_code == 200, asset
        redoc = httpx.get(base + "/redoc", trust_env=False)
        assert redoc.status_code == 404 or "cdn" not in redoc.text.lower()


def test_links_the_pages_links_do_not_follow_the_host_header(own_suite: Suite) -> None:
    # signed in as a supervisor, who may open every program's start page: the top bar links to all six
    page = httpx.get(own_suite.url("intake") + "/ui/login", trust_env=False, headers={"Host": "evil.example:8101"},
                     cookies={COOKIE: token(*SUPERVISOR)})
    assert page.status_code == 200
    assert "evil.example" not in page.text, re.findall(r'href="[^"]*evil[^"]*"', page.text)
    links = re.findall(r'href="(http[^"]+)"', page.text)
    assert len(links) == len(SERVICES) and all(urlsplit(h).hostname == "127.0.0.1" for h in links), links


def test_messages_a_page_shows_no_text_from_the_query_string(own_suite: Suite) -> None:
    phishing = "パスワードの期限切れです。http://evil.example で再設定してください / password expired"
    intake = own_suite.url("intake")
    for query in ({"ng": phishing}, {"ok": phishing}, {"ng": phishing, "sig": "x"}):
        page = httpx.get(intake + "/ui/login", params=query, trust_env=False)
        assert "evil.example" not in page.text, query
    signed = {COOKIE: token(*SUPERVISOR)}
    page = httpx.get(intake + "/ui/log", params={"ok": phishing}, cookies=signed, trust_env=False)
    assert "evil.example" not in page.text
    # the suite's own messages still reach the page: a wrong password, and a refusal with its reason
    with httpx.Client(trust_env=False) as browser:
        wrong = browser.post(intake + "/ui/login", data={"staff_id": "nobody-msg", "password": "x"})
        assert "パスワードが違います" in browser.get(intake + wrong.headers["location"]).text
    case_id, _ = new_case(own_suite, "調布 伝言")
    with httpx.Client(trust_env=False, cookies={COOKIE: token("kouki-012", ELDERLY.division, "counselor")}) as browser:
        page = browser.get(f"{intake}/ui/cases/{case_id}")
        form = {"reason": "理由", "primary_agency": ELDERLY.ja, "csrf_token": csrf_of(page.text)}
        sent = browser.post(f"{intake}/ui/cases/{case_id}/escalate", data=form)  # escalated: back to the case
        assert sent.status_code == 303 and "ok=" in sent.headers["location"], sent.text[:300]
        back = browser.get(intake + sent.headers["location"])
        shown = re.search(r'class="flash ok"[^>]*>([^<]+)<', back.text)
        assert shown and " / " in shown.group(1), back.text[:3000]  # the domain's words, Japanese and English
        for kind in ("ok", "ng"):
            forged = httpx.URL(sent.headers["location"]).copy_set_param(kind, phishing)
            assert "evil.example" not in browser.get(intake + str(forged.raw_path.decode())).text
        # refused (it was escalated already): the case page again, the refusal beside its form and what was typed kept
        refused = browser.post(f"{intake}/ui/cases/{case_id}/escalate", data=form)
        assert refused.status_code == 409, refused.text[:300]
        said = re.search(r'class="flash ng"[^>]*>([^<]+)<', refused.text)
        assert said and " / " in said.group(1), refused.text[:3000]


def test_files_the_data_folder_is_private(own_suite: Suite) -> None:
    loose = []
    for path in [own_suite.data_dir, *own_suite.data_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink() or path.is_socket():
            continue
        wanted = 0o700 if path.is_dir() else 0o600
        if mode & 0o077:
            loose.append(f"{path.relative_to(own_suite.data_dir.parent)}: {oct(mode)} (want {oct(wanted)})")
    assert not loose, "\n".join(loose)


# --- tokens with an unexpected algorithm (item 6) ----------------------------------------------------


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


NOW = int(time.time())
CLAIMS = {"iss": "jusou-dev", "aud": "jusou", "sub": "kanri-001", "division": LEAD,
          "roles": ["supervisor"], "exp": NOW + 6 * 3600}
ODD_TOKENS = {
    "RS256 from another key": jwt.encode(CLAIMS, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                         algorithm="RS256"),
    "alg none": jwt.encode(CLAIMS, None, algorithm="none"),
    "HS256": jwt.encode(CLAIMS, "a shared secret", algorithm="HS256"),
    "a critical extension": f"{_b64({'alg': 'ES256', 'crit': ['x'], 'x': 1})}.{_b64(CLAIMS)}.AAAA",
    "a numeric key id": f"{_b64({'alg': 'ES256', 'kid': 5})}.{_b64(CLAIMS)}.AAAA",
    "a garbage header": f"{_b64([1, 2])}.{_b64(CLAIMS)}.AAAA",
    "not base64": "%%%.%%%.%%%",
}


@pytest.mark.parametrize("odd", list(ODD_TOKENS))
def test_auth_a_token_with_an_unexpected_algorithm_or_header_is_a_401_not_a_500(odd: str, own_suite: Suite) -> None:
    answer = httpx.get(own_suite.url("intake") + "/reports/trend", trust_env=False,
                       headers={"Authorization": f"Bearer {ODD_TOKENS[odd]}"})
    assert answer.status_code == 401, (answer.status_code, answer.text[:300])
    assert JA_AND_EN.search(answer.json()["detail"]), answer.text
    page = httpx.get(own_suite.url("intake") + "/ui/", cookies={COOKIE: ODD_TOKENS[odd]}, trust_env=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login"), page.status_code
