"""Review (HE, issue 19 seventh pass): intake's kept `Case` (9548370, f3f6520) is copied for a command by `own_copy`
(shared/domain/kept_reads.py), which tests/unit/test_kept_copies.py pins for the meeting's and collaboration's
aggregate classes only. Here the same for intake's case, with every kind of value a journey gives it (consent,
connections and their answers, sittings, meetings, a household plan, a plan's review date), by both ways a command
gets its copy: `load` (`KeptReads.load`) and the copy of the case its scope check read (`decoded_once.take(copy=...)`).
"""

from __future__ import annotations

import contextvars
import copy
from typing import Any
from uuid import UUID

from support.municipality import ELDERLY

from services.intake.application import IntakeApplication
from services.intake.domain import Case
from shared.domain.kept_reads import own_copy
from shared.kernel import decoded_once
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory
from unit.test_intake_kept_cases import the_journeys_inbox
from unit.test_kept_copies import assert_own, scribble


def rich_case(app: IntakeApplication) -> UUID:
    """A case with every kind of value intake's inbox and commands give it."""
    case_id = app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                       ["高齢・介護", "ひきこもり"], dict(PERSON), None, True)
    app.connect_case(COUNTER_STAFF, case_id, ELDERLY.ja, "介護の相談")
    app.answer_connection(COUNTER_STAFF, case_id, 0, False, "体制がない")
    app.connect_case(COUNTER_STAFF, case_id, ELDERLY.ja, "もう一度")
    app.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面")
    app.escalate_case(COUNTER_STAFF, case_id, "複合", ELDERLY.ja)
    the_journeys_inbox(app, case_id, Upstream("meeting"), Upstream("collaboration"))
    return case_id


def kept_case(app: IntakeApplication, case_id: UUID) -> Case:
    assert app.reads_kept is not None
    kept: Case = app.reads_kept.get(case_id)
    assert type(kept) is Case and not kept.pending_events
    return kept


def test_d9_d11_a_commands_copy_of_intakes_kept_case_is_deepcopys_and_shares_nothing_changeable() -> None:
    app = in_memory(IntakeApplication)
    case_id = rich_case(app)
    kept = kept_case(app, case_id)
    assert kept.connections and kept.consent and kept.sittings and getattr(kept, "meetings", None)
    before = copy.deepcopy(vars(kept))

    assert vars(own_copy(kept)) == vars(copy.deepcopy(kept))
    copied = app.load(case_id, Case, "ケース")
    assert_own(copied, kept)
    scribble(vars(copied))

    assert vars(kept_case(app, case_id)) == before  # the kept case, as recorded
    assert vars(app.read(case_id, Case, "ケース")) == before  # what the reads are given
    assert app.case_view(case_id) == Case.view(_as(before))  # what the pages are given


def test_d9_a_commands_copy_of_the_case_its_scope_check_read_leaves_the_kept_case_as_recorded() -> None:
    """f3f6520: the command takes a copy of the kept case its scope check read (no second look at the store); a
    command refused after changing its copy leaves the kept case, and what the next request reads, as recorded."""
    app = in_memory(IntakeApplication)
    case_id = rich_case(app)
    before = copy.deepcopy(vars(kept_case(app, case_id)))
    given: list[Case] = []

    def request() -> None:
        decoded_once.open_slot()
        app.case_divisions(case_id)
        case = app._case(case_id)
        given.append(case)
        scribble(vars(case))
        case.connections[0]["status"] = "落書き"

    contextvars.copy_context().run(request)

    assert given and given[0] is not kept_case(app, case_id)
    assert vars(kept_case(app, case_id)) == before
    assert vars(app.read(case_id, Case, "ケース")) == before


def _as(values: dict[str, Any]) -> Case:
    case = object.__new__(Case)
    case.__dict__.update(copy.deepcopy(values))
    return case
