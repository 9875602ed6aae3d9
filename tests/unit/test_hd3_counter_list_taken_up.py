"""The counter's list as the counter holding a case sees it (HD's review, session 21). The list's own counter
(`counter=` in the address: the 窓口 chosen above the list, and always in the live table's and the CSV's
addresses) was applied twice: once as the counter's cases (`_cases`, which includes a case the counter took up
from outreach's referral, D11 D12) and again as a filter on the case's first counter. So the case taken up at the
disability counter showed on its page as first drawn and vanished at the list's first live update, and was missing
from the CSV; and a counter with no case at all read 「条件に合う相談はありません / none match」 as if a filter hid
them. The counter is the list's, not a filter: the case stays, and an empty counter says 「まだ相談はありません」."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import DISABILITY, ELDERLY, concern

from services.intake.application import IntakeApplication
from unit.builders import IN_MEMORY
from unit.test_hf_taken_up_listing import NOW, handed_to_another_counter

HOLDER = staff_headers(NOW["staff_id"], DISABILITY.division, "counselor")


@pytest.fixture
def served() -> Iterator[tuple[TestClient, IntakeApplication]]:
    from services.intake.main import api

    app = IntakeApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def test_d12_a_case_taken_up_stays_on_the_holding_counters_live_list_and_csv(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, app = served
    case_id = handed_to_another_counter(app)
    app.receive_consultation(NOW, DISABILITY.code, DISABILITY.division, "窓口", [concern("disability")], None, None,
                             referral=case_id)

    for address in (f"/ui/?counter={DISABILITY.code}", f"/ui/cases-table?counter={DISABILITY.code}&view=v1",
                    f"/ui/cases.csv?counter={DISABILITY.code}"):
        answer = client.get(address, headers=HOLDER)
        assert answer.status_code == 200, address
        assert str(case_id)[:8] in answer.text, address
    # the list's own filters still filter it
    filtered = client.get(f"/ui/cases-table?counter={DISABILITY.code}&view=v1&status=closed", headers=HOLDER)
    assert str(case_id)[:8] not in filtered.text and "条件に合う相談はありません" in filtered.text


def test_an_empty_counters_list_says_none_yet_not_that_a_filter_hides_them(
        served: tuple[TestClient, IntakeApplication]) -> None:
    client, _ = served
    headers = staff_headers("kouki-012", ELDERLY.division, "counselor")

    for address in (f"/ui/?counter={ELDERLY.code}", f"/ui/cases-table?counter={ELDERLY.code}&view=v2"):
        answer = client.get(address, headers=headers)
        assert answer.status_code == 200, address
        assert "まだ相談はありません / none yet" in answer.text, address
        assert "条件に合う相談はありません" not in answer.text, address
        assert "0件中" not in answer.text and "0–0件" not in answer.text, address  # the pager of an empty list
        assert "0件 / no items" in answer.text, address
