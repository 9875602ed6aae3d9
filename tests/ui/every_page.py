"""Every page of every division's UI, for the tests that look at all of them (issue 15).

The pages are the GET routes under /ui/ of each service's app (shared/web/policy.py `actions`, so a
page added tomorrow is visited too), with the path's ids taken from one seeded journey
(tests/security/seed.py); a page whose path needs an id the journey does not give fails the listing,
naming it. Fragments (`-table`, htmx) are visited for their words; the accessibility test looks at
whole pages. Each role of shared/web/policy.py ROLES signs in with the UI's cookie. The walks ask for
their pages at once (`fetch_all`, `AT_ONCE` in flight) and only for the pages the run selected (`selected`).
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser

import httpx
import pytest
from support.auth import ROLE_STAFF, token
from support.municipality import ELDERLY

from shared.contract.events import REGISTRY
from shared.web.auth import COOKIE, Principal
from shared.web.labels import EVENT_NAME, ROUTE, RULE_CODE
from shared.web.policy import ROLES, actions, permits

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
#: routes that are no page: the live-update stream, the way to and from the city's IdP (there and back: redirects)
NOT_PAGES = {"/ui/events", "/ui/login/oidc", "/ui/login/callback", "/ui/logout/done"}
#: error pages every service answers: an address that is not there, an id that is not one
ERROR_PAGES = ("/ui/no-such-page", "/ui/cases/not-a-case/timeline")
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@cache
def templates(service: str) -> tuple[str, ...]:
    """The service's page routes (GET, under /ui/), as declared."""
    api = importlib.import_module(f"services.{service}.main").api
    return tuple(sorted(path for (method, path) in actions(api) if method == "GET" and path.startswith("/ui/")
                        and path not in NOT_PAGES and not path.startswith("/ui/static")))


def pages(service: str) -> list[str]:
    """Every page route of the service (CSV exports aside), then its error pages."""
    return [p for p in templates(service) if not p.endswith(".csv")] + list(ERROR_PAGES)


def exports(service: str) -> list[str]:
    """Every CSV export of the service: its `.csv` routes and the audit's `?format=csv`."""
    found = [p for p in templates(service) if p.endswith(".csv")]
    found += [f"{p}?format=csv" for p in templates(service) if p.startswith("/ui/audit/") and "{" in p]
    return found


#: The query a page needs to show its list (a page without it answers 422, checked as an error page too)
QUERIES = {"/ui/cases-table": {"intake": f"counter={ELDERLY.code}"}, "/ui/cases.csv": {"intake": f"counter={ELDERLY.code}"}}


def filled(path: str, ids: dict[str, str], service: str = "") -> str:
    """The route with the journey's ids in it (and the query its list needs); fails naming an id the
    journey does not give. An id kept as `name@service` (a plan outreach holds) is that service's `name`."""
    ids = {**ids, **{k.split("@")[0]: v for k, v in ids.items() if service and k.endswith("@" + service)}}
    unknown = [name for name in _PARAM.findall(path) if name not in ids]
    assert not unknown, f"{path}: no id for {unknown} in the seeded journey (tests/ui/every_page.py)"
    query = QUERIES.get(path, {}).get(service)
    filled_in = _PARAM.sub(lambda m: str(ids[m.group(1)]), path)
    return f"{filled_in}{'&' if '?' in filled_in else '?'}{query}" if query else filled_in


def selected(request: pytest.FixtureRequest, *tests: str) -> list[tuple[str, str]]:
    """The (service, path) of the page tests this run runs (all of them, or those `-k` chose): what a walk's
    module fixture has to fetch."""
    return list(dict.fromkeys((item.callspec.params["service"], item.callspec.params["path"])
                              for item in request.session.items
                              if getattr(item, "originalname", "") in tests and hasattr(item, "callspec")))


def role_cookie(role: str, url: str) -> dict[str, str]:
    """The UI's session cookie of the role's staff member (as after signing in), for Playwright."""
    staff_id, division = ROLE_STAFF[role]
    return {"name": COOKIE, "value": token(staff_id, division, role), "url": url}


ALL_ROLES = tuple(ROLES)
#: How many pages the walks ask for at once: the six services answer in parallel (two cores in CI)
AT_ONCE = 8


@dataclass(frozen=True)
class Answer:
    """A page as one role got it."""

    status: int
    content_type: str
    text: str


async def fetch_all(wanted: Iterable[tuple[str, str]], at_once: int = AT_ONCE) -> dict[tuple[str, str], Answer]:
    """GET every (url, role) with the role's UI cookie (and no other: nothing an answer sets is kept), `at_once`
    at a time instead of one after another; a request that fails raises here, naming the url and the role."""
    gate = asyncio.Semaphore(at_once)

    async def one(http: httpx.AsyncClient, url: str, role: str) -> Answer:
        staff_id, division = ROLE_STAFF[role]
        async with gate:
            try:
                answer = await http.get(url, headers={"cookie": f"{COOKIE}={token(staff_id, division, role)}"})
            except httpx.HTTPError as exc:
                raise AssertionError(f"{url} as {role}: {exc!r}") from exc
        return Answer(answer.status_code, answer.headers.get("content-type", ""), answer.text)

    keys = list(dict.fromkeys(wanted))
    async with httpx.AsyncClient(timeout=60, trust_env=False, limits=httpx.Limits(max_connections=at_once)) as http:
        got = await asyncio.gather(*(one(http, url, role) for url, role in keys))
    return dict(zip(keys, got, strict=True))

_ACTIONS = sorted({action for role in ROLES.values() for action in role.actions}, key=len, reverse=True)
ACTION_NAME = re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(a) for a in _ACTIONS) + r")(?![\w.])")
INTEGRATION_EVENT = re.compile(r"\b(?:" + "|".join(sorted({name for name, _ in REGISTRY}, key=len, reverse=True))
                               + r")\b")
CODES = {"a rule code (D2, D12…)": RULE_CODE, "an action name (audit.read…)": ACTION_NAME,
         "a route (GET /…)": ROUTE, "an English event name (Case.Received…)": EVENT_NAME,
         "an integration event's name (ConsultationReceived…)": INTEGRATION_EVENT}


def codes_in(text: str) -> list[str]:
    """What a reader should not see in `text`: each kind found, with the words around it."""
    found = []
    for kind, pattern in CODES.items():
        for match in pattern.finditer(text):
            start, end = max(0, match.start() - 30), match.end() + 30
            found.append(f"{kind}: {match.group()!r} in …{text[start:end]!r}…")
    return found


class _Reading(HTMLParser):
    """What a reader meets on a page, from its HTML: the text (the title's too, every option's), the
    labels read aloud (aria-label, alt), placeholders and buttons' values; not a tooltip (title=), not
    a script; and the links to pages (this service's, or absolute: another service's)."""

    SKIPPED = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {name: value or "" for name, value in attrs}
        if tag in self.SKIPPED:
            self._skipping += 1
        self.parts += [given[name] for name in ("aria-label", "alt", "placeholder") if given.get(name)]
        if tag == "input" and given.get("type") in ("submit", "button", "reset") and given.get("value"):
            self.parts.append(given["value"])
        if tag == "a" and given.get("href", "").startswith(("/ui/", "http://", "https://")):
            self.links.append(given["href"])  # refused_links keeps this service's and the suite's other services' pages

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self._skipping = max(0, self._skipping - 1)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def reading(html: str) -> tuple[str, list[str]]:
    """A page's text as a reader meets it, and its links to pages (`/ui/…` and absolute ones)."""
    parser = _Reading()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split()), parser.links


@cache
def _actions(service: str) -> dict[str, tuple[re.Pattern[str], str | None]]:
    api = importlib.import_module(f"services.{service}.main").api
    return {path: (re.compile("^" + _PARAM.sub(r"[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
                              + "$"), action)
            for (method, path), action in actions(api).items() if method == "GET" and path.startswith("/ui/")}


def refused_links(service: str, role: str, hrefs: list[str], urls: dict[str, str] | None = None) -> list[str]:
    """The links of a page that lead the role to 「権限がありません」: this service's own (`/ui/…`) and, given the suite's
    `urls` (service → base URL), those to another service's pages (`http://…/ui/…`)."""
    staff_id, division = ROLE_STAFF[role]
    reader = Principal(staff_id, division, frozenset({role}))
    refused = []
    for href in hrefs:
        target, path = service, href.split("#", 1)[0].split("?", 1)[0]
        for other, base in (urls or {}).items():
            if path.startswith(base.rstrip("/") + "/ui/"):
                target, path = other, path[len(base.rstrip("/")):]
        if not path.startswith("/ui/") or path.startswith("/ui/static/"):
            continue
        for pattern, action in _actions(target).values():
            if pattern.match(path) and action not in (None, "public") and not permits(reader, action, target):
                refused.append(f"{href} ({action} at {target})")
    return refused


