"""A page that records a showing is opened from Jusou's own pages, never chosen by another site (D9 D10).

A page that shows a person records the showing (Case.PersonDisclosed, Person.Shown: the disclosures audit). The UI's
cookie is SameSite=Lax, so a link or `window.location` on any other site opens such a page with the staff member's
session: that site chooses whom the staff member is recorded as looking at (the review from outside: a page
elsewhere sent them to three cases in turn, and the person's disclosures went 3 → 4 → 5).

`records_showing(ui)` on such a route (a GET): when the browser says the navigation came from another site
(`Sec-Fetch-Site: cross-site`) or from another origin of this one (`same-site`: another port, another
subdomain), the answer is a page of its own (200) that says opening it records the viewing, with a link to open it
from here, and nothing is recorded. `same-origin` (a link, a form or a redirect of this service's pages), `none`
(typed in the address bar, a bookmark, a reload) and no header (an older browser, a client of the API: which never
takes the cookie, shared/web/policy.py `principal_of`) go through as before. A reader the policy does not let see a
person (`person.read`) is shown none and recorded as seeing none: they go through too.

The answer leaves the route unrun by the one way FastAPI has for a dependency to answer: an exception whose handler
gives its response (shared/web/http.py answers `Replayed` with `exc.response`; `OpenHereFirst` is one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request

from shared.kernel.idempotency import Replayed
from shared.web.policy import allowed
from shared.web.ui import UI

#: `Sec-Fetch-Site` values of a navigation that another site, or another origin of this site, started
ELSEWHERE = frozenset({"cross-site", "same-site"})

TITLE = "閲覧の記録の確認 / opening records your viewing"
NOTICE = ("この画面を開くと相談者の閲覧が記録されます。別のサイト（または別の画面）から開かれたため、まだ開いていません・"
          "記録もしていません。この人を見る必要がある場合だけ、下のボタンで開いてください / Opening this page records that "
          "you viewed this person. It was opened from another site (or another program's page), so it has not been "
          "opened or recorded yet: open it with the button below only if you need to see this person")


class OpenHereFirst(Replayed):
    """The page was not run: its answer is the page asking to open it from here (`records_showing`)."""


def from_elsewhere(request: Request) -> bool:
    """Whether the browser says another site, or another origin of this site, started this request."""
    return request.headers.get("sec-fetch-site", "").strip().lower() in ELSEWHERE


def records_showing(ui: UI, when: Callable[[Request], bool] | None = None) -> Any:
    """The dependency of a GET page that records a showing (module doc): `when(request)`, if given, says whether this
    request records one (a reception form only with a `person_ref`, a search only with something to search for)."""

    def guard(request: Request) -> None:
        if request.method != "GET" or not from_elsewhere(request):
            return
        principal = getattr(request.state, "principal", None)
        if principal is None or not allowed(principal, "person.read"):
            return  # shown no person, recorded as seeing none
        if when is not None and not when(request):
            return
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise OpenHereFirst(ui.render(request, "showing_confirm.html", TITLE, notice=NOTICE, here=here))

    return Depends(guard)


def with_query(*names: str) -> Callable[[Request], bool]:
    """`when` for `records_showing`: the request has a non-empty one of these query parameters."""
    return lambda request: any(request.query_params.get(name, "").strip() for name in names)
