"""協議の場 as data (issue 18, D8): the municipality file's [[forums]], one of them the 推進会議 (`council = true`). An
initiative in a forum of the file carries `forum_code` = `forum:<code>`, the council's too (on 架空市's file the
council is the 重層的支援体制推進会議, not Chofu's 相談支援包括化推進会議); the forms offer the file's forums and the pages
name the council as the file does; initiatives recorded before (no code, or a program's code) still read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import cast
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel

from services.collaboration import ui as collaboration_ui
from services.community import ui as community_ui
from services.community.application import CommunityApplication
from services.community.domain import RegionalIssue
from services.community.translate import translate as community_translate
from shared.contract.events import Envelope, PromotionCouncilDecidedV1, ResourceGapIdentifiedV1
from shared.kernel.journey import Invalid, acting
from shared.organisation import reference
from shared.organisation.municipality import DATA, DEFAULT_FILE, MunicipalityFileError, load
from unit.builders import Upstream, envelope_for, in_memory, only, published

KAKUSHI = DATA / "kakushi.toml"
FILES = pytest.mark.parametrize("path", [DEFAULT_FILE, KAKUSHI], ids=["chofu", "kakushi"])
COUNCILS = {DEFAULT_FILE: ("hokatsuka-kaigi", "相談支援包括化推進会議"), KAKUSHI: ("jusou-suishin-kaigi", "重層的支援体制推進会議")}


@pytest.fixture
def on_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[Path]:
    """The municipality file in force for the test (a shipped one, by the parameter `path`, or one written for it)."""
    monkeypatch.setenv(reference.VARIABLE, str(path))
    yield path


def staff() -> dict[str, str]:
    return {"staff_id": "forums-1", "division": reference.lead_division()}


def an_issue(community: CommunityApplication) -> tuple[UUID, UUID]:
    """A gap the meeting named, kept as a regional issue: (issue_id, the gap event's id)."""
    gap = ResourceGapIdentifiedV1(need="夜間の居場所", area="市内", description="夜に過ごせる場がない")
    envelope, payload = Upstream("meeting").emit("ResourceGapIdentified", gap, uuid4())
    community.receive(envelope, payload)
    [issue_id] = community.ids_of(RegionalIssue)
    return issue_id, envelope.event_id


def council_decided(origin: UUID, position: int = 1) -> tuple[Envelope, BaseModel]:
    payload = PromotionCouncilDecidedV1(sitting_id=uuid4(), gap_id=uuid4(), origin_event_id=origin, need="夜間の居場所",
                                        area="市内", decision="initiative", summary="空き店舗で夜の居場所を協議する")
    return envelope_for("collaboration", position, "PromotionCouncilDecided", payload, uuid4())


def started(community: CommunityApplication) -> list[tuple[str, str | None]]:
    return [(e.payload["forum"], e.payload.get("forum_code"))
            for e in published(community, community_translate, "InitiativeStarted")]


# -- the file ------------------------------------------------------------------------------------------------------


@FILES
def test_issue18_each_shipped_file_lists_its_forums_and_marks_its_own_council(on_file: Path) -> None:
    code, name = COUNCILS[on_file]

    council = reference.council_forum()
    assert council is not None and (council.code, council.ja, reference.council_name()) == (code, name, name)
    assert [f.code for f in reference.forums().values() if f.council] == [code]
    assert len(reference.forums()) >= 4
    # the council is also the 多機関協働 program of the same code and name (the source lists it under that 事業)
    assert reference.PROGRAMS[code].ja == name and reference.PROGRAMS[code].kind == "collaboration"


def test_issue18_a_forum_renamed_in_a_reorganisation_reads_by_its_name_on_the_day() -> None:
    kakushi = load(KAKUSHI)

    before = kakushi.entry("forums", "sasaeai-kyogitai", date(2027, 3, 31))
    after = kakushi.entry("forums", "sasaeai-kyogitai", date(2027, 4, 1))
    assert before is not None and before.ja == "架空市支え合い推進協議体"
    assert after is not None and after.ja == "架空市地域共生推進協議体"
    assert kakushi.entry("forums", "ibasho-renrakukai", date(2027, 3, 31)) is None


def _chofu_with(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    assert old in text
    changed = tmp_path / "city.toml"
    changed.write_text(text.replace(old, new), encoding="utf-8")
    return changed


def test_issue18_a_file_that_lists_forums_names_its_council_or_is_refused_at_its_forums(tmp_path: Path) -> None:
    bad = _chofu_with(tmp_path, "council = true\n", "")
    first = next(n for n, line in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if line == "[[forums]]")

    with pytest.raises(MunicipalityFileError) as refused:
        load(bad)

    assert f"{bad}: {first}行目 [[forums]] #1 (hokatsuka-kaigi) council: 推進会議にあたる協議の場がありません" in str(refused.value)


def test_issue18_two_councils_on_one_day_are_refused_naming_both(tmp_path: Path) -> None:
    bad = _chofu_with(tmp_path, 'ja = "地域ケア会議"\n', 'ja = "地域ケア会議"\ncouncil = true\n')

    with pytest.raises(MunicipalityFileError, match=r"\[\[forums\]\] #4 \(chiiki-care-kaigi\) council: 推進会議（council = "
                       r"true）が #1 \(hokatsuka-kaigi\) と同じ日に二つあります"):
        load(bad)


def test_issue18_council_is_true_or_false(tmp_path: Path) -> None:
    bad = _chofu_with(tmp_path, "council = true\n", 'council = "yes"\n')

    with pytest.raises(MunicipalityFileError, match=r"council: true か false（引用符なし）で書きます"):
        load(bad)


def test_issue18_a_file_written_before_forums_names_the_council_generically_and_gives_no_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    older = tmp_path / "older.toml"
    older.write_text(text[: text.index("# 協議の場 (forums)")], encoding="utf-8")
    monkeypatch.setenv(reference.VARIABLE, str(older))
    community = in_memory(CommunityApplication)
    _, origin = an_issue(community)

    community.receive(*council_decided(origin))

    assert load(older).model.forums == [] and reference.council_forum() is None
    assert started(community) == [("推進会議", None)]


# -- community: initiatives ----------------------------------------------------------------------------------------


@FILES
def test_d8_an_initiative_the_council_decides_starts_in_the_files_council_with_its_code(on_file: Path) -> None:
    code, name = COUNCILS[on_file]
    community = in_memory(CommunityApplication)
    issue_id, origin = an_issue(community)

    community.receive(*council_decided(origin))

    assert started(community) == [(name, f"forum:{code}")]
    assert [i["forum"] for i in community.issue_record(issue_id)["initiatives"]] == [name]


@FILES
def test_d8_an_initiative_in_a_forum_of_the_file_carries_its_code_however_it_was_named(on_file: Path) -> None:
    community = in_memory(CommunityApplication)
    issue_id, _ = an_issue(community)
    first, second = list(reference.forums().values())[1:3]

    community.take_up(staff(), issue_id, first.ja, "名前で")  # what the form's datalist gives
    community.take_up(staff(), issue_id, f"forum:{second.code}", "コードで")  # a client sending the code
    community.take_up(staff(), issue_id, f" {first.code} ", "コードだけで")
    community.take_up(staff(), issue_id, "地区の見守り連絡会", "ファイルにない協議の場")

    assert started(community) == [(first.ja, f"forum:{first.code}"), (second.ja, f"forum:{second.code}"),
                                  (first.ja, f"forum:{first.code}"), ("地区の見守り連絡会", None)]
    assert "forum_code" not in only(published(community, community_translate, "InitiativeStarted")[3:]).payload


@FILES
def test_d8_a_forum_code_the_file_does_not_know_is_refused_naming_the_files_forums(on_file: Path) -> None:
    community = in_memory(CommunityApplication)
    issue_id, _ = an_issue(community)
    council = reference.council_forum()
    assert council is not None

    with pytest.raises(Invalid, match=rf"協議の場のコード 'forum:nope' は自治体ファイルにありません.*forum:{council.code}={council.ja}"):
        community.take_up(staff(), issue_id, "forum:nope", "s")
    with pytest.raises(Invalid, match="'program:nope'"):
        community.take_up(staff(), issue_id, "program:nope", "s")
    assert started(community) == []


def test_issue18_a_former_forum_name_still_finds_its_code_and_the_page_gives_todays_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed = _chofu_with(tmp_path, 'ja = "地域ケア会議"\n', 'ja = "地域包括ケア会議"\nvalid_from = 2020-04-01\n')
    with renamed.open("a", encoding="utf-8") as file:
        file.write('\n[[forums]]\ncode = "chiiki-care-kaigi"\nja = "地域ケア会議"\nvalid_to = 2020-03-31\n')
    monkeypatch.setenv(reference.VARIABLE, str(renamed))
    community = in_memory(CommunityApplication)
    issue_id, _ = an_issue(community)

    community.take_up(staff(), issue_id, "地域ケア会議", "以前の名前で")

    assert started(community) == [("地域ケア会議", "forum:chiiki-care-kaigi")]
    [initiative] = community_ui._issue(community.issue_record(issue_id))["initiatives"]
    assert (initiative["forum"], initiative["forum_now"]) == ("地域ケア会議", "地域包括ケア会議")
    assert reference.forum_code("地域ケア会議", date(2019, 4, 1)) == "forum:chiiki-care-kaigi"
    assert reference.forum_name("forum:chiiki-care-kaigi", date(2019, 4, 1)) == "地域ケア会議"


@FILES
def test_issue18_initiatives_recorded_before_forums_still_read(on_file: Path) -> None:
    """Recorded before [[forums]]: without a code (before issue 18), or with the council program's code."""
    code, name = COUNCILS[on_file]
    community = in_memory(CommunityApplication)
    issue_id, _ = an_issue(community)
    issue = community._issue(issue_id)
    with acting(staff()):
        issue.take_up(name, "コードのない記録", forum_code=None)
        issue.take_up(name, "事業のコードの記録", forum_code=f"program:{code}")
    community.save(issue)

    assert started(community) == [(name, None), (name, f"program:{code}")]
    initiatives = community_ui._issue(community.issue_record(issue_id))["initiatives"]
    assert [(i["forum"], i["forum_now"]) for i in initiatives] == [(name, ""), (name, "")]
    assert reference.forum_name(f"program:{code}") == name


# -- the pages -----------------------------------------------------------------------------------------------------


@FILES
def test_issue18_the_initiative_form_offers_the_files_forums_and_the_pages_name_its_council(on_file: Path) -> None:
    _, name = COUNCILS[on_file]
    offered = cast(Callable[[], list[str]], community_ui.ui.templates.env.globals["forums_today"])
    named = [cast(Callable[[], str], u.ui.templates.env.globals["council_name"]) for u in (community_ui, collaboration_ui)]

    forums = offered()
    assert forums == [f.ja for f in reference.forums().values()] and name in forums
    assert [council_name() for council_name in named] == [name, name]
    assert "地域福祉コーディネーターの地区懇談会" not in forums or on_file == DEFAULT_FILE
