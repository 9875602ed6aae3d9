"""A reorganisation (組織改正) on a date (issue 18): lookups on a day, records keeping their codes, names then and
now, and the division scope following a successor. The organisation is 架空市's file
(shared/organisation/municipalities/kakushi.toml) with its 2027-04-01 reorganisation moved to the day a test needs:
高齢福祉課 and 介護保険課 merge into 高齢介護課, the 子育て世代包括支援センター moves from 健康づくり課 to こども家庭課,
福祉政策課 is renamed 地域共生推進課."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.organisation import reference
from shared.organisation.municipality import DATA
from shared.organisation.reference import (
    COUNTERS,
    DIVISIONS,
    agencies,
    counter,
    division,
    division_display,
    division_of,
    divisions,
    lead_division,
    successor,
)
from shared.organisation.scope import PROGRAM_DIVISIONS, divisions_named
from unit.builders import in_memory, published

TODAY = reference.today()
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture(autouse=True)
def _today() -> None:
    """Today in Japan as each test begins, not as the module was collected: a run that crosses midnight JST
    (15:00 UTC) saw the services' today one day past the tests' and the reorganisation on the wrong side."""
    global TODAY, YESTERDAY
    TODAY = reference.today()
    YESTERDAY = TODAY - timedelta(days=1)
PERSON = {"name": "架空 一郎", "birth_date": "1961-04-01"}


def reorganised_on(tmp_path: Path, day: date) -> Path:
    """架空市's file with its reorganisation on `day` (the old organisation ends the day before)."""
    text = (DATA / "kakushi.toml").read_text(encoding="utf-8")
    text = text.replace("2027-03-31", (day - timedelta(days=1)).isoformat()).replace("2027-04-01", day.isoformat())
    path = tmp_path / f"kakushi-{day.isoformat()}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def municipality(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[date], None]:
    """Switch the municipality file to 架空市's reorganised on a given day (the services read it when used)."""

    def use(day: date) -> None:
        monkeypatch.setenv("JUSOU_MUNICIPALITY_FILE", str(reorganised_on(tmp_path, day)))

    return use


def test_lookups_on_a_date_see_the_organisation_of_that_day(municipality: Callable[[date], None]) -> None:
    municipality(TODAY)

    # a counter moved to another division: its division on each day
    assert counter("kosodate-center", YESTERDAY).division == "kenko-zukuri"  # type: ignore[union-attr]
    assert counter("kosodate-center").division == "kodomo-katei" == COUNTERS["kosodate-center"].division  # type: ignore[union-attr]
    # two merged: gone today, their successor works their cases; before, each was its own
    assert division("korei-fukushi") is None and division("kaigo-hoken") is None
    assert successor("korei-fukushi") == successor("kaigo-hoken") == "korei-kaigo"
    assert successor("korei-fukushi", YESTERDAY) == "korei-fukushi" and division("korei-kaigo", YESTERDAY) is None
    assert "korei-fukushi" not in divisions() and "korei-fukushi" in divisions(YESTERDAY)
    assert "korei-fukushi" in DIVISIONS  # a record's code still reads as a name
    # renamed: one code, the name of each day
    assert division("fukushi-seisaku", YESTERDAY).ja == "福祉政策課"  # type: ignore[union-attr]
    assert division("fukushi-seisaku").ja == "地域共生推進課" == DIVISIONS["fukushi-seisaku"].ja  # type: ignore[union-attr]
    # names as a record made then shows them: its name that day, today's beside it when it differs
    assert division_display("korei-fukushi", YESTERDAY) == "高齢福祉課（現: 高齢介護課）"
    assert division_display("fukushi-seisaku", YESTERDAY) == "福祉政策課（現: 地域共生推進課）"
    assert (
        division_display("korei-kaigo", TODAY) == "高齢介護課"
        and division_display("kenko-zukuri", YESTERDAY) == "健康づくり課"
    )
    # a page passes the record's moment as stored (UTC): its day in Japan decides
    early_yesterday = f"{(YESTERDAY - timedelta(days=1)).isoformat()}T16:00:00+00:00"  # 01:00 JST, YESTERDAY
    assert division_display("fukushi-seisaku", early_yesterday) == "福祉政策課（現: 地域共生推進課）"
    assert division_display("fukushi-seisaku", f"{YESTERDAY.isoformat()}T16:00:00") == "地域共生推進課"  # 01:00 JST today
    # a counter keeps its name across the move (same name in both entries): shown once
    assert reference.counter_display("kosodate-center", YESTERDAY) == "子育て世代包括支援センター"
    # agencies a new plan role or attendee may name: today's; an old name still resolves to its code
    assert "高齢福祉課" in agencies(YESTERDAY) and "高齢福祉課" not in agencies() and "高齢介護課" in agencies()
    assert division_of("高齢福祉課") == "korei-fukushi" and division_of("福祉政策課") == "fukushi-seisaku"
    # who runs which program today
    assert {"korei-kaigo", "kodomo-katei"} <= PROGRAM_DIVISIONS["intake"]
    assert not {"korei-fukushi", "kenko-zukuri"} & PROGRAM_DIVISIONS["intake"]
    assert PROGRAM_DIVISIONS["meeting"] == {"fukushi-seisaku"} == {lead_division()}


def test_the_same_file_before_its_date_is_the_old_organisation(municipality: Callable[[date], None]) -> None:
    municipality(TODAY + timedelta(days=1))

    assert counter("kosodate-center").division == "kenko-zukuri"  # type: ignore[union-attr]
    assert division("korei-fukushi").ja == "高齢福祉課" and division("korei-kaigo") is None  # type: ignore[union-attr]
    assert division_display("korei-fukushi") == "高齢福祉課"
    assert PROGRAM_DIVISIONS["intake"] >= {"korei-fukushi", "kenko-zukuri"}


def receive(app: IntakeApplication, counter_code: str) -> UUID:
    where = COUNTERS[counter_code]  # the counter's division today
    staff = {"staff_id": f"{counter_code}-1", "division": where.division}
    return app.receive_consultation(staff, where.code, where.division, "窓口", ["高齢・介護"], dict(PERSON), None)


def test_cases_before_and_after_keep_their_codes_and_the_successor_reads_the_old_ones(
    municipality: Callable[[date], None],
) -> None:
    intake = in_memory(IntakeApplication)
    municipality(TODAY + timedelta(days=1))  # the day before the reorganisation
    before_houkatsu, before_kosodate = receive(intake, "houkatsu-center"), receive(intake, "kosodate-center")
    municipality(TODAY)  # the reorganisation's day
    after_houkatsu, after_kosodate = receive(intake, "houkatsu-center"), receive(intake, "kosodate-center")

    # records keep the organisation they were made under
    assert intake.case_view(before_houkatsu)["division"] == "korei-fukushi"
    assert intake.case_view(after_houkatsu)["division"] == "korei-kaigo"
    assert intake.case_view(before_kosodate)["division"] == "kenko-zukuri"
    assert intake.case_view(after_kosodate)["division"] == "kodomo-katei"

    # the division scope (shared/organisation/scope.py) of an old case names the successor of its ended division
    named_before = set().union(*(divisions_named(row) for row in intake.history(before_houkatsu)))
    assert named_before == {"korei-fukushi", "korei-kaigo"}
    # a counter that moved: its old cases stay with the division that received them (it still exists) and the
    # counter, their primary agency, is read as it is today: its new division carries them on
    named_moved = set().union(*(divisions_named(row) for row in intake.history(before_kosodate)))
    assert named_moved == {"kenko-zukuri", "kodomo-katei"}
    # intake's own readers (services/intake/access.py) follow the successor too
    assert "korei-kaigo" in intake.case_divisions(before_houkatsu)
    assert {"kenko-zukuri", "kodomo-katei"} <= intake.case_divisions(before_kosodate)
    assert "kodomo-katei" not in intake.case_divisions(before_houkatsu)

    # events carry the division and the counter as codes, never as names (an agency, though, travels by its name:
    # `primary_agency` is the counter's name; agencies include partners, which have no code yet)
    sent = published(intake, translate, "ConsultationReceived")
    assert [e.payload["division"] for e in sent] == ["korei-fukushi", "kenko-zukuri", "korei-kaigo", "kodomo-katei"]
    assert [e.payload["counter"] for e in sent] == ["houkatsu-center", "kosodate-center"] * 2
    on_the_bus = json.dumps([e.model_dump(mode="json") for e in published(intake, translate)], ensure_ascii=False)
    for name in {d.ja for d in DIVISIONS.values()} | {"福祉政策課", "高齢福祉課"}:
        assert name not in on_the_bus, name


def test_a_counter_renamed_shows_its_name_then_and_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = 'code = "houkatsu-center"\nja = "地域包括支援センター"'  # the counter's two entries (before, after)
    before, after = reorganised_on(tmp_path, TODAY).read_text(encoding="utf-8").rsplit(entry, 1)
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(before + 'code = "houkatsu-center"\nja = "高齢者総合相談センター"' + after, encoding="utf-8")
    monkeypatch.setenv("JUSOU_MUNICIPALITY_FILE", str(renamed))

    assert reference.counter_display("houkatsu-center", YESTERDAY) == "地域包括支援センター（現: 高齢者総合相談センター）"
    assert reference.counter_display("houkatsu-center") == "高齢者総合相談センター"
    assert division_of("地域包括支援センター") == "korei-kaigo"  # the old name still finds the counter's division
