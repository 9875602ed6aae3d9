"""The JSON API's PUTs that replace what a client read refuse a stale `If-Match` (412), not a lost update (review).

The outside review: GET a draft plan twice, PUT from the first copy, then from the second: both answered 200 and the
second silently undid the first. Now the GET of each resource answers with a strong `ETag` (its aggregate's version)
and its PUT takes an optional `If-Match`: naming the version the record has now, the PUT is applied; naming one it
has left (or anything that is no entity tag of it), 412 `changed_meanwhile` with a Japanese and English detail saying
what to do, and nothing recorded; without `If-Match`, the last writer wins as before (backward compatible). As the
support's needs (tests/security/test_review_hd_second_tab.py), for `PUT /plans/{id}` (collaboration, outreach,
participation), `PUT /meetings/{id}/sitting`, `PUT /cases/{id}/strands/{sid}` and `PUT /catalogue/{id}/details`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from support.auth import staff_headers
from support.municipality import ELDERLY, LEAD, LEAD_NAME, concern

from jusou.runner import Suite

COORDINATOR = staff_headers("fukushi-hg1", LEAD, "coordinator")
SECRETARIAT = staff_headers("kaigi-hg1", LEAD, "secretariat")
OUTREACH_WORKER = staff_headers("outreach-hg1", LEAD, "outreach_worker")
PARTICIPATION_WORKER = staff_headers("sanka-hg1", LEAD, "participation_worker")


@dataclass(frozen=True)
class Replaced:
    """One PUT that replaces what its GET read: the two bodies two clients send, and what each leaves readable."""

    service: str
    read: str  # the GET giving the ETag
    put: str  # the PUT taking If-Match
    staff: dict[str, str]
    first: dict[str, Any]
    second: dict[str, Any]
    seen: Callable[[dict[str, Any]], Any]  # what of the GET's body the PUT's body decides
    sent: Callable[[dict[str, Any]], Any]  # the same in the PUT's body
    read_template: str
    put_template: str


def direction(body: dict[str, Any]) -> Any:
    return body["support_direction"]


def schedule_of(body: dict[str, Any]) -> Any:
    return body["schedule"]


def plan_body(direction: str) -> dict[str, Any]:
    return {"support_direction": direction, "goals": ["月1回の訪問"],
            "roles": [{"agency": ELDERLY.ja, "responsibility": "見守り"}]}


def sitting_body(place: str) -> dict[str, Any]:
    return {"starts_at": "10:00", "ends_at": "11:00", "place": place,
            "present": [{"name": "調布 花子", "agency": LEAD_NAME}], "chair": "調布 花子", "recorder": "調布 花子"}


def strand_body(description: str) -> dict[str, Any]:
    return {"concern": concern("elderly-care"), "description": description, "agency": ELDERLY.ja,
            "status": "working"}


@pytest.fixture(scope="module")
def replaced(shared_suite: Suite) -> dict[str, Replaced]:
    """A case recorded in every program (tests/security/seed.py), and the four PUTs of its records."""
    from security.conftest import SERVICES
    from security.seed import seed

    ids = seed({name: shared_suite.url(name) for name in SERVICES}, name="調布 五郎")
    case_id, resource_id = ids["case_id"], ids["resource_id"]
    found = [
        Replaced("outreach", f"/plans/{ids['plan_id@outreach']}", f"/plans/{ids['plan_id@outreach']}",
                 OUTREACH_WORKER, plan_body("第一の方針"), plan_body("第二の方針"),
                 direction, direction, "/plans/{plan_id}", "/plans/{plan_id}"),
        Replaced("participation", f"/plans/{ids['plan_id@participation']}", f"/plans/{ids['plan_id@participation']}",
                 PARTICIPATION_WORKER, plan_body("第一の方針"), plan_body("第二の方針"),
                 direction, direction, "/plans/{plan_id}", "/plans/{plan_id}"),
        Replaced("meeting", f"/meetings/{ids['meeting_id']}", f"/meetings/{ids['meeting_id']}/sitting", SECRETARIAT,
                 sitting_body("第1会議室"), sitting_body("第2会議室"), lambda body: body["sitting"]["place"],
                 lambda body: body["place"], "/meetings/{meeting_id}", "/meetings/{meeting_id}/sitting"),
        Replaced("collaboration", f"/cases/{case_id}", f"/cases/{case_id}/strands/{ids['strand_id']}", COORDINATOR,
                 strand_body("母の介護（第一）"), strand_body("母の介護（第二）"),
                 lambda body: next(s["description"] for s in body["strands"] if s["strand_id"] == ids["strand_id"]),
                 lambda body: body["description"], "/cases/{case_id}", "/cases/{case_id}/strands/{strand_id}"),
        Replaced("participation", f"/catalogue/{resource_id}", f"/catalogue/{resource_id}/details",
                 PARTICIPATION_WORKER, {"schedule": "毎週火曜 10:00〜"}, {"schedule": "毎週木曜 13:00〜"},
                 schedule_of, schedule_of, "/catalogue/{resource_id}", "/catalogue/{resource_id}/details"),
    ]
    found.append(Replaced("collaboration", f"/plans/{ids['plan_id']}", "", COORDINATOR, {}, {}, direction, direction,
                          "/plans/{plan_id}", "/plans/{plan_id}"))  # approved: read and declared only
    return {f"{r.service} {r.put_template}": r for r in found}


CASES = ["outreach /plans/{plan_id}", "participation /plans/{plan_id}", "meeting /meetings/{meeting_id}/sitting",
         "collaboration /cases/{case_id}/strands/{strand_id}", "participation /catalogue/{resource_id}/details"]


def client(suite: Suite, r: Replaced) -> httpx.Client:
    return httpx.Client(base_url=suite.url(r.service), trust_env=False, timeout=30,
                        headers={**r.staff, "content-type": "application/json"})


@pytest.mark.parametrize("which", CASES)
def test_a_put_naming_a_version_the_record_has_left_is_412_and_records_nothing(
        shared_suite: Suite, replaced: dict[str, Replaced], which: str) -> None:
    """Two clients read the same version; the first's PUT is applied, the second's (same If-Match) is refused with
    412 `changed_meanwhile`, a detail saying in Japanese and English to read again, compare and send again, and the
    record still reads as the first left it."""
    r = replaced[which]
    with client(shared_suite, r) as api:
        read = api.get(r.read)
        assert read.status_code == 200, read.text
        etag = read.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/"), etag  # strong
        assert api.get(r.read).headers["etag"] == etag  # the version, not a new tag at every read
        first = api.put(r.put, json=r.first, headers={"If-Match": etag})
        assert first.status_code == 200, first.text
        assert api.get(r.read).headers["etag"] != etag
        stale = api.put(r.put, json=r.second, headers={"If-Match": etag})
        assert (stale.status_code, stale.json()["code"]) == (412, "changed_meanwhile"), stale.text
        detail = stale.json()["detail"]
        assert "GET し直して" in detail and "GET" in detail and "send again" in detail, detail
        assert r.seen(api.get(r.read).json()) == r.sent(r.first)


@pytest.mark.parametrize("which", CASES)
def test_a_put_naming_the_current_version_or_none_is_applied_as_before(
        shared_suite: Suite, replaced: dict[str, Replaced], which: str) -> None:
    """The ETag read now is applied (200); without If-Match the PUT replaces as it always did (200); an If-Match
    that is no entity tag of the record (weak, malformed) is refused with 412 and records nothing."""
    r = replaced[which]
    with client(shared_suite, r) as api:
        etag = api.get(r.read).headers["etag"]
        for malformed in (f"W/{etag}", "v1", '"nonsense"'):
            refused = api.put(r.put, json=r.second, headers={"If-Match": malformed})
            assert refused.status_code == 412, (malformed, refused.text)
        assert api.get(r.read).headers["etag"] == etag
        fresh = api.put(r.put, json=r.second, headers={"If-Match": etag})
        assert fresh.status_code == 200, fresh.text
        assert r.seen(api.get(r.read).json()) == r.sent(r.second)
        unguarded = api.put(r.put, json=r.first)
        assert unguarded.status_code == 200, unguarded.text
        assert r.seen(api.get(r.read).json()) == r.sent(r.first)


@pytest.mark.parametrize("which", [*CASES, "collaboration /plans/{plan_id}"])
def test_the_document_declares_the_etag_the_if_match_and_the_412(
        shared_suite: Suite, replaced: dict[str, Replaced], which: str) -> None:
    r = replaced[which]
    with client(shared_suite, r) as api:
        paths = api.get("/openapi.json").json()["paths"]
        assert "ETag" in paths[r.read_template]["get"]["responses"]["200"].get("headers", {}), r.read_template
        put = paths[r.put_template]["put"]
        assert put["responses"]["412"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Refusal"}
        header = next(p for p in put["parameters"] if p["in"] == "header" and p["name"].lower() == "if-match")
        assert not header.get("required") and "412" in header["description"]
        assert "before" in put["description"]  # says that without If-Match it is as before
        assert api.get(r.read).headers["etag"].startswith('"v')
