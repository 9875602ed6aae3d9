"""What the policy table must say, written down apart from it (shared/web/policy.py; the actions the routes
declare): the table test in tests/security checks that the running services enforce the table; these
check that the table says what the city means — separation of duties, read-only audit, personal
information to few."""

from __future__ import annotations

import importlib

import pytest

from shared.web.policy import PUBLIC, ROLES, actions

DECLARED = {a for s in ("intake", "collaboration", "meeting", "outreach", "participation", "community")
            for a in actions(importlib.import_module(f"services.{s}.main").api).values()}  # what the routes need
WRITES = {a for a in DECLARED if a and not a.endswith(".read") and a not in (
    PUBLIC, "audit.disclosures", "case.history", "person.search", "ui.open")}


def holders(action: str) -> set[str]:
    return {code for code, role in ROLES.items() if action in role.actions}


@pytest.mark.parametrize(("action", "only"), [
    ("consultation.receive", {"counselor"}),  # D1 D2: the counters receive consultations
    ("collaboration.plan.write", {"coordinator"}),  # D4
    ("meeting.decide", {"secretariat"}),  # D5: the meeting's secretariat records the consensus
    ("meeting.evaluate", {"secretariat"}),  # D7
    ("outreach.plan.write", {"outreach_worker"}),  # D6 D12
    ("participation.plan.write", {"participation_worker"}),  # D6 D13
    ("person.erase", {"supervisor"}),  # crypto-shredding is a supervisor's decision
])
def test_policy_intent_each_decision_belongs_to_one_role(action: str, only: set[str]) -> None:
    assert holders(action) == only


def test_policy_intent_auditors_and_operators_change_nothing() -> None:
    for role in ("auditor", "operator"):
        assert not ROLES[role].actions & WRITES, (role, ROLES[role].actions & WRITES)


def test_policy_intent_auditors_see_the_audit_but_not_the_persons_details() -> None:
    assert {"audit.read", "audit.disclosures"} <= ROLES["auditor"].actions
    assert "person.read" not in ROLES["auditor"].actions and "person.search" not in ROLES["auditor"].actions


def test_policy_intent_personal_information_goes_to_few_roles() -> None:
    assert holders("person.search") == {"counselor"}  # search before create, at the counter
    assert holders("person.read") <= {"counselor", "coordinator", "secretariat", "supervisor"}
    assert not holders("audit.read") & {"counselor", "coordinator", "secretariat", "outreach_worker",
                                        "participation_worker", "community_worker", "operator"}
