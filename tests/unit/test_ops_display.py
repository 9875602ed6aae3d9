"""What the operator reads: the demo accounts' table (`jusou up --demo-staff`) and a dead letter's reason in
Japanese beside the English one its consumer recorded (`jusou deadletters list|show`)."""

from __future__ import annotations

import json
import re
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from jusou import ops
from jusou.cli import demo_staff, demo_staff_table
from services.intake import application as intake
from services.meeting import application as meeting
from shared.contract.events import Actor, Envelope, PoisonMessage, envelope_json, parse
from shared.messaging import deadletters
from shared.messaging.inbox import refusal
from shared.messaging.reasons import bilingual, japanese
from unit.builders import in_memory


def test_demo_staff_passwords_stand_in_one_column_whatever_the_longest_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("shared.web.auth.hash_password", lambda password: f"test:{password}")  # 10 scrypts: 3 s
    demo_staff(tmp_path)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  demo-")]
    ids = [staff_id for staff_id, _ in demo_staff_table().values()]
    assert len(rows) == len(ids) and "demo-welfare-coordinator" in ids
    starts = {re.match(r"  (\S+) +", row).end() for row in rows}  # type: ignore[union-attr]
    assert starts == {2 + max(map(len, ids)) + 2}, rows


def envelope(**changes: Any) -> Envelope:
    """intake's CaseEscalated v1 as its relay would publish it, with an empty payload (the contract refuses it)."""
    fields: dict[str, Any] = {
        "event_id": uuid4(), "event_type": "CaseEscalated", "schema_version": 1, "source": "intake",
        "source_position": 3, "case_id": uuid4(), "occurred_at": datetime.now(UTC), "correlation_id": uuid4(),
        "causation_id": None, "actor": Actor(service="intake"), "payload": {}, **changes}
    return Envelope(**fields)


def poison(body: bytes) -> str:
    with pytest.raises(PoisonMessage) as refused:
        parse(body)
    return refused.value.reason


def raised(check: Any, *args: Any) -> str:
    with pytest.raises(PoisonMessage) as refused:
        check(*args)
    return refused.value.reason


def caught_up_meeting() -> meeting.MeetingApplication:
    """A meeting whose store knows which cases outreach and participation hold (its one-off read of the stream done)."""
    app = in_memory(meeting.MeetingApplication)
    app.catch_up_held_cases([], read_to=1)
    return app


def reasons_jusou_writes() -> dict[str, str]:
    """Each kind of reason, as the code that parks a message writes it (not copied here, where it can be called)."""
    agreeing = envelope()
    proposed = envelope(source="outreach", event_type="PlanProposed")
    plan = SimpleNamespace(id=uuid4(), program="collaboration", case_id=proposed.case_id)  # the meeting's PlanReview
    return {
        "not JSON": poison(b"\xff not json"),
        "envelope": poison(b'{"event_type": "X"}'),
        "unknown event": poison(envelope_json(envelope(event_type="NoSuchEvent", schema_version=9))),
        "payload": poison(envelope_json(agreeing)),
        "subject": refusal("jusou.intake", agreeing) or "",
        "disagreeing": refusal("jusou.meeting.CaseEscalated", agreeing) or "",
        "far position": refusal("jusou.intake.CaseEscalated", envelope(source_position=2**60)) or "",
        "plan owner": refusal("jusou.outreach.PlanProposed", envelope(
            source="outreach", event_type="PlanProposed", payload={"program": "collaboration"})) or "",
        "plan named": raised(meeting._owner_sent, proposed, "collaboration", plan.id),
        "plan of another": raised(meeting._same_plan, proposed, plan),
        "plan of another case": raised(meeting._same_plan, envelope(source="collaboration", event_type="PlanProposed"),
                                       SimpleNamespace(**{**vars(plan), "program": "collaboration"})),
        "plan for a case never held": raised(caught_up_meeting()._require_held, proposed, plan.id),
        "hand-over of a case outreach does not read": raised(  # services/intake/application.py (HI, session 24)
            intake._handed_by_its_reader, envelope(source="outreach", event_type="OutreachHandedOver"),
            SimpleNamespace(to_program="intake", counter="life-support", primary_agency=None),
            {"division": "elderly-support", "counter": "houkatsu", "status": "received"}),
        "failed": "failed 3 times; last error RuntimeError: boom",  # shared/messaging/inbox.py, partitions.py
        "replay failed": "replay failed 3 times; last error RuntimeError: boom",  # deadletters.py handle_replay
        "replay header": ("replayed on jusou-replay.collaboration.intake.CaseEscalated, but its Jusou-Original-Subject "
                          "header says jusou.meeting.MeetingDecided: not applied"),
    }


def test_every_reason_jusou_writes_has_its_japanese_and_keeps_its_particulars() -> None:
    written = reasons_jusou_writes()
    assert all(written.values()), written
    found = {kind: japanese(reason) for kind, reason in written.items()}
    assert all(found.values()), {k: v for k, v in found.items() if not v}
    ja = {kind: text or "" for kind, text in found.items()}
    assert "NoSuchEvent" in ja["unknown event"] and "9" in ja["unknown event"]
    assert "jusou.meeting.CaseEscalated" in ja["disagreeing"] and "件名が正" in ja["disagreeing"]
    assert str(2**60) in ja["far position"] and "3 回" in ja["failed"] and "再処理が 3 回" in ja["replay failed"]
    assert "collaboration" in ja["plan owner"] and "jusou.outreach.PlanProposed" in ja["plan owner"]
    assert "担当プログラムだけ" in ja["plan of another"] and "別のケース" in ja["plan of another case"]
    handed = ja["hand-over of a case outreach does not read"]
    assert "OutreachHandedOver" in handed and "houkatsu" in handed and "偽のメッセージ" in handed, handed
    never_held = ja["plan for a case never held"]
    particulars = re.search(r"for case (\S+) proposes plan (\S+) ", written["plan for a case never held"])
    assert particulars and "OutreachStarted" in never_held and all(p in never_held for p in particulars.groups())
    assert japanese("someone else's words") is None and bilingual("someone else's words") == "someone else's words"
    assert bilingual(written["failed"]) == f"{ja['failed']}\n{written['failed']}"


def test_deadletters_list_and_show_give_the_reason_in_japanese_beside_the_english(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    reason = "failed 2 times; last error RuntimeError: injected failure"
    letter = deadletters.DeadLetter(seq=5, time=None, consumer="collaboration", subject="jusou.intake.CaseEscalated",
                                    reason=reason, headers={deadletters.REASON: reason}, data=b"{}")
    other = deadletters.DeadLetter(seq=6, time=None, consumer="meeting", subject="jusou.intake.CaseEscalated",
                                   reason="not ours", headers={}, data=b"{}")

    async def fake_with_js(work: Any) -> Any:
        return await work(SimpleNamespace())

    async def listed(js: Any, limit: int | None = None) -> list[deadletters.DeadLetter]:
        return [letter, other]

    async def one(js: Any, seq: int) -> deadletters.DeadLetter:
        return letter

    monkeypatch.setattr(ops, "_with_js", fake_with_js)
    monkeypatch.setattr(deadletters, "dead_letters", listed)
    monkeypatch.setattr(deadletters, "dead_letter", one)
    monkeypatch.setenv("COLUMNS", "200")
    assert ops.deadletters_list(Namespace(limit=10, consumer=None, json=True)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["reason"], r["reason_ja"]) for r in rows] == [(reason, japanese(reason)), ("not ours", None)]
    assert ops.deadletters_list(Namespace(limit=10, consumer=None, json=False)) == 0
    table = capsys.readouterr().out
    assert "2 回処理に失敗しました" in table and "injected failure" in table and "not ours" in table
    assert ops.deadletters_show(Namespace(seq=5, json=False)) == 0
    shown = capsys.readouterr().out
    assert "2 回処理に失敗しました" in shown and "injected failure" in shown
