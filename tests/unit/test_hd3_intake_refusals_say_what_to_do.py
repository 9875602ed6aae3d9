"""Intake's refusals of a person's showing and of a case another division holds say what to do (HD's review, session
21; the rules refuse exactly as before): 「本人同意がありません（または撤回されています）」 stopped there, a consent that
did not cover the reader named its scope by codes (「同意の範囲: related_agencies」), 「受付した窓口の課の職員ではありません」
and the division scope's 「…つながっていません。閲覧できません」 named no next step, and a referral received at another
counter only named that counter. Each now says whom to ask or what to choose, in both halves."""

from __future__ import annotations

from uuid import UUID

import pytest
from support.municipality import DISABILITY, ELDERLY, concern

from services.intake.access import require_case_reader
from services.intake.application import IntakeApplication
from shared.kernel.journey import DomainError
from shared.web.auth import Principal
from shared.web.limits import halves
from unit.builders import PERSON, in_memory
from unit.test_hf_taken_up_listing import handed_to_another_counter

COUNTER = {"staff_id": "s1", "division": ELDERLY.division}
OTHER = {"staff_id": "s2", "division": DISABILITY.division}


@pytest.fixture
def intake() -> IntakeApplication:
    return in_memory(IntakeApplication)


def _case(app: IntakeApplication) -> UUID:
    return app.receive_consultation(COUNTER, ELDERLY.code, ELDERLY.division, "窓口", [concern("elderly-care")],
                                    dict(PERSON), None, confirm_new_person=True)


def _said(refused: pytest.ExceptionInfo[DomainError]) -> tuple[str, str]:
    japanese, english = halves(str(refused.value))
    assert japanese != english, refused.value
    return japanese, english


def test_d9_no_consent_says_to_ask_the_counter_or_use_a_shien_kaigi(intake: IntakeApplication) -> None:
    case_id = _case(intake)
    with pytest.raises(DomainError) as refused:
        intake.disclose_person(OTHER, case_id, "consent", None)
    japanese, english = _said(refused)
    assert "受付窓口に本人同意の確認と記録を依頼するか" in japanese and "支援会議を根拠に" in japanese
    assert "ask the receiving counter to confirm and record the person's consent" in english


def test_d9_a_consent_not_covering_the_reader_names_its_scope_in_words(intake: IntakeApplication) -> None:
    case_id = _case(intake)
    intake.record_consent(COUNTER, case_id, "重層的支援会議での情報共有", True, "書面", ["jusou_shien_kaigi"])
    with pytest.raises(DomainError) as refused:
        intake.disclose_person(OTHER, case_id, "consent", None)
    japanese, english = _said(refused)
    assert "（同意の範囲: 重層的支援会議での情報共有）" in japanese and "jusou_shien_kaigi" not in japanese
    assert "ask the receiving counter to record a consent that does" in english


def test_own_counter_basis_of_another_division_says_which_basis_to_choose(intake: IntakeApplication) -> None:
    case_id = _case(intake)
    with pytest.raises(DomainError) as refused:
        intake.disclose_person(OTHER, case_id, "own_counter", None)
    assert _said(refused)[0].endswith("根拠に「本人同意」か「支援会議」を選んでください")


def test_the_division_scope_of_a_case_says_whom_to_ask(intake: IntakeApplication) -> None:
    case_id = _case(intake)
    reader = Principal(OTHER["staff_id"], OTHER["division"], frozenset({"counselor"}))
    with pytest.raises(DomainError) as refused:
        require_case_reader(reader, intake.case_view(case_id))
    japanese, english = _said(refused)
    assert japanese.endswith("にこのケースのつなぎ（連携）を依頼してください")
    assert english.endswith("ask that division to connect the case to yours")


def test_d12_a_referral_received_at_another_counter_says_where_to_receive_it(intake: IntakeApplication) -> None:
    case_id = handed_to_another_counter(intake)  # handed to the disability counter
    with pytest.raises(DomainError) as refused:
        intake.receive_consultation(COUNTER, ELDERLY.code, ELDERLY.division, "窓口", [concern("elderly-care")], None,
                                    None, referral=case_id)
    japanese, english = _said(refused)
    assert japanese.endswith("その窓口の「紹介を受けた方」から受け付けてください")
    assert english.endswith("receive it from that counter's list of referrals")
