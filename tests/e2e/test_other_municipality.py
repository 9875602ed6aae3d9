"""Another municipality's file on a running suite (issue 18): a short journey under 架空市's organisation
(shared/organisation/municipalities/kakushi.toml: divisions and counters unlike Chofu's), then its reorganisation
taking effect (the suite restarted on the reorganisation's day, same stores), in the API and on the pages:
- two divisions merged (高齢福祉課 + 介護保険課 → 高齢介護課): the old case keeps its division's code, its successor
  reads and works it, its page shows the name then and now (「高齢福祉課（現: 高齢介護課）」); a new case at the same
  counter goes to the new division;
- a counter moved (子育て世代包括支援センター: 健康づくり課 → こども家庭課): the case received before the day keeps
  健康づくり課 and is worked by the counter's new division too (its primary agency is the counter); a case received on
  the day goes to こども家庭課, and 健康づくり課 can no longer receive at that counter.

More tests run on this file too: tests/e2e/test_municipality_second_file.py (`JUSOU_TEST_MUNICIPALITY=kakushi`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.auth import staff_headers
from support.poll import eventually
from support.servers import Nats, free_port

from jusou.runner import Suite
from shared.organisation.municipality import DATA, load
from shared.organisation.reference import today

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
KOREI = staff_headers("kourei-101", "korei-fukushi", "counselor")  # 高齢福祉課, until the reorganisation
KENKO = staff_headers(
    "kenko-102", "kenko-zukuri", "counselor"
)  # 健康づくり課 (the 子育て世代包括支援センター's, until then)
KAIGO = staff_headers("kaigo-201", "korei-kaigo", "counselor")  # 高齢介護課, from the reorganisation (the successor)
KODOMO = staff_headers("kodomo-202", "kodomo-katei", "counselor")  # こども家庭課 (the centre's, from then)
COORDINATOR = staff_headers("suishin-001", "fukushi-seisaku", "coordinator")
AUDITOR = staff_headers("kansa-009", "fukushi-seisaku", "auditor")
PERSON = {"name": "架空 花子", "kana": "かくう はなこ", "birth_date": "1950-02-03"}


def reorganised_on(folder: Path, day: date) -> Path:
    """架空市's file with its reorganisation (shipped for 2027-04-01) on `day`."""
    text = (DATA / "kakushi.toml").read_text(encoding="utf-8")
    text = text.replace("2027-03-31", (day - timedelta(days=1)).isoformat()).replace("2027-04-01", day.isoformat())
    path = folder / f"kakushi-{day.isoformat()}.toml"
    path.write_text(text, encoding="utf-8")
    load(path)  # valid
    return path


@pytest.fixture
def kakushi(nats: Nats, tmp_path: Path) -> Iterator[Any]:
    """Start the services named on 架空市's file reorganised on a given day (stopping the ones before), same stores:
    only those the journey needs (each start costs seconds)."""
    running: list[Suite] = []

    def start(day: date, *services: str) -> Suite:
        for suite in running:
            suite.stop()
        suite = Suite(
            tmp_path / "data",
            nats_url=nats.url,
            ports={name: free_port() for name in SERVICES},
            services=services,
            extra_env={"JUSOU_MUNICIPALITY_FILE": str(reorganised_on(tmp_path, day))},
        )
        running.append(suite)
        suite.start()
        return suite

    yield start
    for suite in running:
        suite.stop()


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def test_a_journey_under_another_municipality_then_its_reorganisation(kakushi: Any) -> None:
    suite = kakushi(today() + timedelta(days=1), "intake", "collaboration")  # the day before the reorganisation
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        intake, collaboration = suite.url("intake"), suite.url("collaboration")
        # the organisation the services read is 架空市's
        divisions = ok(await http.get(f"{intake}/reference/divisions", headers=AUDITOR))
        assert {d["code"]: d["ja"] for d in divisions}["korei-fukushi"] == "高齢福祉課"
        assert "welfare-general" not in {d["code"] for d in divisions}
        # received at 地域包括支援センター (高齢福祉課), consented, escalated: 多機関協働 (福祉政策課) opens it from the bus
        case_id = ok(
            await http.post(
                f"{intake}/consultations",
                headers=KOREI,
                json={
                    "counter": "houkatsu-center",
                    "channel": "窓口",
                    "concerns": ["高齢・介護", "ひきこもり"],
                    "person": PERSON,
                    "confirm_new_person": True,
                },
            )
        )["case_id"]
        ok(
            await http.post(
                f"{intake}/cases/{case_id}/consent",
                headers=KOREI,
                json={"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"},
            )
        )
        ok(
            await http.post(
                f"{intake}/cases/{case_id}/escalate",
                headers=KOREI,
                json={"reason": "母の介護と本人のひきこもりが重なる", "primary_agency": "地域包括支援センター"},
            )
        )

        async def opened() -> dict[str, Any] | None:
            answer = await http.get(f"{collaboration}/cases/{case_id}", headers=COORDINATOR)
            return answer.json() if answer.status_code == 200 and answer.json().get("status") == "open" else None

        await eventually(opened, "多機関協働 (福祉政策課) to open the escalated case")
        moved_id = ok(
            await http.post(
                f"{intake}/consultations",
                headers=KENKO,
                json={
                    "counter": "kosodate-center",
                    "channel": "電話",
                    "concerns": ["子育て"],
                    "person": {"name": "架空 次郎", "birth_date": "1990-05-06"},
                    "confirm_new_person": True,
                },
            )
        )["case_id"]
        home = await http.get(f"{intake}/ui/", headers=KOREI)
        assert home.status_code == 200 and "地域包括支援センター" in home.text and "調布" not in home.text

    suite = kakushi(today(), "intake")  # the reorganisation's day: 高齢福祉課 → 高齢介護課, the centre → こども家庭課
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        intake = suite.url("intake")
        case = ok(await http.get(f"{intake}/cases/{case_id}", headers=KAIGO))  # the successor reads it
        assert case["division"] == "korei-fukushi"  # the record keeps the code it was made with
        ok(
            await http.post(
                f"{intake}/cases/{case_id}/connect",
                headers=KAIGO,  # and works it
                json={"to_agency": "基幹相談支援センター", "reason": "本人の障がいの相談"},
            )
        )
        # the counter moved: the case received before keeps 健康づくり課's code; the counter's new division works it
        moved = ok(await http.get(f"{intake}/cases/{moved_id}", headers=KODOMO))
        assert (moved["counter"], moved["division"]) == ("kosodate-center", "kenko-zukuri")
        assert (await http.get(f"{intake}/cases/{moved_id}", headers=KENKO)).status_code == 200
        ok(
            await http.post(
                f"{intake}/cases/{moved_id}/consent",
                headers=KODOMO,
                json={"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"},
            )
        )
        # and a case received at the counter from the day goes to こども家庭課; 健康づくり課 no longer receives there
        at_the_moved_counter = {
            "counter": "kosodate-center",
            "channel": "電話",
            "concerns": ["子育て"],
            "person": {"name": "架空 四郎", "birth_date": "1992-03-04"},
            "confirm_new_person": True,
        }
        refused = await http.post(f"{intake}/consultations", headers=KENKO, json=at_the_moved_counter)
        assert refused.status_code == 403 and "intake" in refused.json()["detail"], refused.text  # no counter of its own now
        after_id = ok(await http.post(f"{intake}/consultations", headers=KODOMO, json=at_the_moved_counter))["case_id"]
        after = ok(await http.get(f"{intake}/cases/{after_id}", headers=KODOMO))
        assert (after["counter"], after["division"]) == ("kosodate-center", "kodomo-katei")
        assert (await http.get(f"{intake}/cases/{after_id}", headers=KENKO)).status_code == 403
        new_id = ok(
            await http.post(
                f"{intake}/consultations",
                headers=KAIGO,
                json={
                    "counter": "houkatsu-center",
                    "channel": "窓口",
                    "concerns": ["高齢・介護"],
                    "person": {"name": "架空 三郎", "birth_date": "1945-07-08"},
                    "confirm_new_person": True,
                },
            )
        )["case_id"]
        assert ok(await http.get(f"{intake}/cases/{new_id}", headers=KAIGO))["division"] == "korei-kaigo"
        # the pages: the old record under the name it was made with, today's beside it; the new one under today's
        old_page = await http.get(f"{intake}/ui/cases/{case_id}/timeline", headers=KAIGO)
        new_page = await http.get(f"{intake}/ui/cases/{new_id}/timeline", headers=KAIGO)
        assert old_page.status_code == 200 and "高齢福祉課（現: 高齢介護課）" in old_page.text, old_page.text[-3000:]
        assert new_page.status_code == 200 and "kaigo-201（高齢介護課）" in new_page.text
        moved_page = await http.get(f"{intake}/ui/cases/{moved_id}/timeline", headers=KODOMO)
        after_page = await http.get(f"{intake}/ui/cases/{after_id}/timeline", headers=KODOMO)
        assert moved_page.status_code == 200 and "kenko-102（健康づくり課）" in moved_page.text, moved_page.text[-3000:]
        assert "kodomo-202（こども家庭課）" in moved_page.text  # who worked it after the move
        assert after_page.status_code == 200 and "kodomo-202（こども家庭課）" in after_page.text
        assert "健康づくり課" not in after_page.text
        assert "調布" not in old_page.text + new_page.text + moved_page.text + after_page.text
