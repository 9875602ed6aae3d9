"""D15: the audit of a case's journey as a causation tree, with disclosures and an as-of cut."""

from __future__ import annotations

from datetime import datetime

from support.municipality import ELDERLY

from shared.domain.audit import as_of, causation_tree, render_csv, render_text


def row(event_id: str, at: str, service: str, event: str, caused_by: str | None = None, **fields: str) -> dict[str, object]:
    actor = {"service": service} if caused_by else {"staff_id": "s1", "division": ELDERLY.division}
    return {"event_id": event_id, "occurred_at": at, "service": service, "event": event, "caused_by": caused_by,
            "actor": actor, "fields": fields, "position": 1}


ROWS = [
    row("a", "2026-11-29T01:00:00+00:00", "intake", "Case.Escalated"),
    row("b", "2026-11-29T01:00:01+00:00", "collaboration", "CollaborationCase.Opened", caused_by="a"),
    row("c", "2026-11-29T02:00:00+00:00", "meeting", "Meeting.Decided", decision="approved",
        meeting_type="jusou_shien_kaigi"),
    row("d", "2026-11-29T02:00:01+00:00", "collaboration", "Plan.DecisionRecorded", caused_by="c", decision="approved"),
    row("e", "2026-11-29T03:00:00+00:00", "intake", "Case.PersonDisclosed", basis="consent"),
]


def test_d15_each_effect_sits_under_its_cause() -> None:
    tree = [(depth, r["event_id"]) for depth, r in causation_tree(ROWS)]
    assert tree == [(0, "a"), (1, "b"), (0, "c"), (1, "d"), (0, "e")]


def test_d15_text_names_who_decided_and_the_legal_basis_of_a_disclosure() -> None:
    text = render_text(ROWS)
    assert "  └ 2026-11-29T01:00:01 [collaboration] CollaborationCase.Opened by policy:collaboration" in text
    assert "decision=approved, meeting=jusou_shien_kaigi" in text
    assert "personal information shown, basis=本人同意" in text


def test_d15_as_of_shows_only_what_was_recorded_by_then() -> None:
    cut = as_of(ROWS, datetime.fromisoformat("2026-11-29T01:30:00+00:00"))
    assert [r["event_id"] for r in cut] == ["a", "b"]


def test_d15_csv_opens_in_excel_with_the_disclosure_basis() -> None:
    text = render_csv(ROWS)
    assert text.startswith("\ufeff日時,事業,記録,")
    assert text.splitlines()[-1].endswith(f",本人同意,e,,intake,s1,{ELDERLY.division},,,,consent")
    assert "多機関協働,多機関協働の開始," in text and "承認,重層的支援会議," in text
    assert "CollaborationCase.Opened" not in text, "no English event name: staff read the office's words"


def test_audit_csv_keeps_formula_like_text_inert() -> None:
    from shared.domain.audit import disclosure_rows, render_csv, render_disclosures_csv

    row = {"occurred_at": "2026-11-29T00:00:00+00:00", "service": "intake", "event": "Case.PersonDisclosed",
           "event_id": "e1", "caused_by": None, "position": 1, "case_id": "c1",
           "actor": {"staff_id": "=HYPERLINK(\"http://x\")", "division": "childcare"}, "fields": {"basis": "consent"}}
    assert "'=HYPERLINK" in render_csv([row])
    assert "'=HYPERLINK" in render_disclosures_csv(disclosure_rows([row]))
