"""Any sequence of commands leaves a regional issue (地域の課題) and a local resource valid (D8).

Invariants, from DOMAIN.md (D8: a need with no local resource is taken up in a forum of its own):
- an issue is open, taken up or resolved; once resolved it stays resolved and takes no initiative;
- it has a resolution exactly when resolved; every initiative names its forum and what it does;
- a local resource has a name, a provider and an area, and a capacity of at least one if any;
  it joins the journey of the issue it answers, or one of its own.
Refused commands change nothing, and each is rebuilt equal from its stored events.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.community.application import CommunityApplication
from services.community.domain import LocalResource, RegionalIssue, resource_case_id
from shared.kernel.journey import Invalid, acting
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import COORDINATOR, in_memory

APP = in_memory(CommunityApplication)
WORDS = st.sampled_from(["", " ", "生活支援体制整備事業の協議体", "若者の居場所づくり"])

COMMANDS = st.one_of(
    st.tuples(st.just("take_up"), WORDS, WORDS),
    st.tuples(st.just("resolve"), WORDS),
)


def new_issue() -> RegionalIssue:
    return RegionalIssue(case_id=uuid4(), need="居場所", area="深大寺", description="若者の居場所がない",
                         origin_event_id=uuid4(), reported_by="meeting")


@PROPERTIES
@given(ops=st.lists(COMMANDS, max_size=10))
def test_d8_any_commands_leave_a_regional_issue_valid(ops: list[tuple[Any, ...]]) -> None:
    subject = Subject(APP, new_issue)
    issue = subject.aggregate
    for op in ops:
        was = issue.status
        if op[0] == "take_up":
            done = subject.apply(lambda i: i.take_up(op[1], op[2]))  # noqa: B023 - applied at once
            assert done == (was != "resolved" and bool(op[1].strip()) and bool(op[2].strip()))
            if done:
                assert issue.status == "taken_up"
        else:
            done = subject.apply(lambda i: i.resolve(op[1]))  # noqa: B023
            assert done == (was != "resolved" and bool(op[1].strip()))
        assert issue.status in ("open", "taken_up", "resolved")
        assert was != "resolved" or issue.status == "resolved", "D8: a resolved issue stays resolved"
        assert bool(issue.resolution) == (issue.status == "resolved")
        assert all(i["forum"].strip() and i["summary"].strip() for i in issue.initiatives)
    subject.rebuilt()


@PROPERTIES
@given(name=WORDS, provider=WORDS, area=WORDS, capacity=st.one_of(st.none(), st.integers(-2, 30)),
       answers_issue=st.booleans())
def test_d8_a_local_resource_is_whole_or_not_developed(name: str, provider: str, area: str, capacity: int | None,
                                                       answers_issue: bool) -> None:
    with acting(COORDINATOR):
        issue = new_issue() if answers_issue else None
    whole = bool(name.strip() and provider.strip() and area.strip()) and (capacity is None or capacity >= 1)
    if not whole:
        with acting(COORDINATOR), pytest.raises(Invalid):
            LocalResource.develop("ibasho", name, provider, area, capacity, issue)
        return
    subject = Subject(APP, lambda: LocalResource.develop("ibasho", name, provider, area, capacity, issue))
    resource = subject.rebuilt()
    assert resource.name == name.strip() and resource.provider and resource.area
    assert resource.case_id == (issue.case_id if issue else resource_case_id(resource.id)), "D8: its journey"
    assert resource.issue_id == (issue.id if issue else None)
