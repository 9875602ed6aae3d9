"""Issue 18, on both shipped files: a gap brought to the 推進会議 by hand carries the 地区 chosen on the council's form
(PromotionCouncilDecided `area_code`), as the meeting's gap form and participation's shortage form do; intake records a
つなぎ先 sent as a code by the agency's name (as outreach records a 紹介元), and its pages show a code an older record
kept as its name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import cast
from uuid import UUID

import pytest

from services.collaboration import ui as collaboration_ui
from services.collaboration.api import GapIn
from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_translate
from services.intake.application import IntakeApplication
from services.intake.domain import Case
from services.intake.translate import translate as intake_translate
from services.intake.ui import agency_ja
from shared.kernel.journey import Invalid, acting
from shared.organisation import reference
from shared.organisation.municipality import DATA, DEFAULT_FILE
from unit.builders import PERSON, in_memory, only, published

FILES = pytest.mark.parametrize("path", [DEFAULT_FILE, DATA / "kakushi.toml"], ids=["chofu", "kakushi"])


@pytest.fixture
def on_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[Path]:
    monkeypatch.setenv(reference.VARIABLE, str(path))
    yield path


def a_district() -> reference.Area:
    return next(a for a in reference.areas().values() if a.code != "citywide")


def lead() -> dict[str, str]:
    return {"staff_id": "codes2-1", "division": reference.lead_division()}


def decided_areas(app: CollaborationApplication, gaps: list[UUID]) -> list[tuple[str, str | None]]:
    """Each gap taken up at one sitting and deferred: the area and 地区 code its PromotionCouncilDecided carries."""
    sitting = app.hold_sitting(lead(), date(2026, 12, 10), [reference.DIVISIONS[reference.lead_division()].ja])
    for gap in gaps:
        app.take_up_gap(lead(), sitting, gap)
        app.decide_gap(lead(), sitting, gap, "deferred", summary="件数を調べる")
    return [(e.payload["area"], e.payload.get("area_code"))
            for e in published(app, collaboration_translate, "PromotionCouncilDecided")]


# -- the council's gap form: 地区 ----------------------------------------------------------------------------------


@FILES
def test_issue18_a_gap_brought_to_the_council_carries_the_district_chosen(on_file: Path) -> None:
    app, district = in_memory(CollaborationApplication), a_district()

    chosen = app.refer_gap(lead(), "買い物支援", "", "坂が多い", district.code)  # the select only
    written = app.refer_gap(lead(), "夜間の相談先", "〇〇町三丁目", "", district.code)  # a 町名 inside the 地区 chosen
    typed = app.refer_gap(lead(), "居場所", district.ja, "")  # the 地区's name written, no select
    finer = app.refer_gap(lead(), "就労体験", "〇〇町三丁目", "")  # finer than a 地区
    none = app.refer_gap(lead(), "住まい", "", "")  # neither: the gap has no area, as before

    assert [app.gap_view(g)["area"] for g in (chosen, written, typed, finer, none)] == [
        district.ja, "〇〇町三丁目", district.ja, "〇〇町三丁目", ""]
    assert decided_areas(app, [chosen, written, typed, finer, none]) == [
        (district.ja, district.code), ("〇〇町三丁目", district.code), (district.ja, district.code),
        ("〇〇町三丁目", None), ("", None)]


@FILES
def test_issue18_a_district_the_file_does_not_know_is_refused_naming_the_files(on_file: Path) -> None:
    app, district = in_memory(CollaborationApplication), a_district()

    with pytest.raises(Invalid, match=rf"地区 'no-such-area' は自治体ファイルにありません.*{district.code}={district.ja}"):
        app.refer_gap(lead(), "買い物支援", "", "", "no-such-area")
    assert app.gaps() == []


def test_issue18_the_council_gap_requests_area_code_is_a_files_code_or_absent() -> None:
    assert GapIn.model_validate({"need": "n", "area_code": "kita-1"}).area_code == "kita-1"
    assert GapIn.model_validate({"need": "n"}).area_code is None
    with pytest.raises(ValueError, match="area_code"):
        GapIn.model_validate({"need": "n", "area_code": "北部"})


@FILES
def test_issue18_the_council_page_offers_the_files_districts(on_file: Path) -> None:
    offered = cast(Callable[[], list[reference.Area]], collaboration_ui.ui.templates.env.globals["areas_today"])

    assert [a.code for a in offered()] == list(reference.areas()) and a_district() in offered()


# -- intake: a つなぎ先 sent as a code -------------------------------------------------------------------------------


def a_case(intake: IntakeApplication) -> tuple[UUID, dict[str, str]]:
    counter = next(iter(reference.counters().values()))
    staff = {"staff_id": "codes2-2", "division": counter.division}
    case_id = intake.receive_consultation(staff, counter.code, counter.division, "窓口", [reference.CONCERN_FIELDS["other"].ja],
                                          dict(PERSON), None)
    return case_id, staff


@FILES
def test_issue18_a_connection_sent_as_a_code_is_recorded_and_published_by_the_agencys_name(on_file: Path) -> None:
    intake = in_memory(IntakeApplication)
    case_id, staff = a_case(intake)
    counter = list(reference.counters().values())[-1]
    shakyo = reference.partner_entries()["shakyo"]

    intake.connect_case(staff, case_id, f"counter:{counter.code}", "家計の相談")  # a client sending the code
    intake.connect_case(staff, case_id, shakyo.ja, "見守り")  # the name, from the form's list
    intake.connect_case(staff, case_id, "どこにもない会", "名簿にない相手")  # written freely

    connected = [(e.payload["to_agency"], e.payload.get("to_agency_code"))
                 for e in published(intake, intake_translate, "CaseConnected")]
    assert connected == [(counter.ja, f"counter:{counter.code}"), (shakyo.ja, "partner:shakyo"), ("どこにもない会", None)]
    assert [c["to_agency"] for c in intake.case_view(case_id)["connections"]] == [counter.ja, shakyo.ja, "どこにもない会"]


@FILES
def test_issue18_a_connection_to_a_code_the_file_does_not_know_is_refused(on_file: Path) -> None:
    intake = in_memory(IntakeApplication)
    case_id, staff = a_case(intake)

    with pytest.raises(Invalid, match="機関のコード 'counter:nope' は自治体ファイルにありません"):
        intake.connect_case(staff, case_id, "counter:nope", "r")
    assert published(intake, intake_translate, "CaseConnected") == []


@FILES
def test_issue18_intakes_pages_show_a_code_an_older_record_kept_as_the_agencys_name(on_file: Path) -> None:
    """Before, a つなぎ先 sent as a code was kept as its name (and became the 主担当 when accepted)."""
    intake = in_memory(IntakeApplication)
    case_id, staff = a_case(intake)
    counter = list(reference.counters().values())[-1]
    case: Case = intake._case(case_id)
    with acting(staff):
        case.connect(to_agency=f"counter:{counter.code}", reason="r", to_agency_code=f"counter:{counter.code}")
    intake.save(case)

    [connection] = intake.case_view(case_id)["connections"]
    assert connection["to_agency"] == f"counter:{counter.code}"  # as it was recorded
    assert agency_ja(connection["to_agency"]) == counter.ja
    assert [agency_ja(a) for a in ("どこにもない会", "counter:nope", "", None)] == ["どこにもない会", "counter:nope", "", ""]
    assert only(published(intake, intake_translate, "CaseConnected")).payload["to_agency"] == f"counter:{counter.code}"
