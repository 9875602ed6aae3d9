"""A delivery whose handlers record nothing (issue 19, docs/capacity.md §5.11): three of outreach's and two of
participation's three deliveries a journey (a `MeetingDecided` about collaboration's plan, connecting no one).
Its commit holds a tracking record alone; it costs that commit and no more: the read models' follower is not woken
(the log it follows did not grow), and the divisions the event names are worked out only for an event a handler
records (they go into that event's meta, D15's division scope of the case). A delivery that records still does
both, as before."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from support.deliveries import decided
from support.municipality import ELDERLY, HARDSHIP

import shared.kernel.app as kernel_app
from services.outreach.application import OutreachApplication
from services.outreach.domain import Engagement
from shared.kernel.app import divisions_upstream


@pytest.fixture
def outreach(monkeypatch: pytest.MonkeyPatch) -> Any:
    named: list[Any] = []
    original = kernel_app.divisions_named

    def counted(row: Any) -> set[str]:
        named.append(row)
        return original(row)

    monkeypatch.setattr(kernel_app, "divisions_named", counted)
    monkeypatch.setattr(kernel_app, "_named", {})  # divisions_upstream's remembered answers (issue 19): none yet
    app = OutreachApplication()
    app.named = named
    yield app
    app.close()


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_a_delivery_that_records_nothing_neither_wakes_the_read_models_nor_works_out_its_divisions(
        outreach: Any, many: bool) -> None:
    outreach.readmodels._wake.clear()  # POPO: no follower thread clears it; a wake leaves it set
    envelope, payload = decided(1, connect_to=[])

    applied = outreach.receive_many([(envelope, payload)]) == [True] if many else outreach.receive(envelope, payload)

    assert applied is True
    assert outreach.recorder.max_tracking_id("meeting") == 1  # its tracking is recorded all the same
    assert not outreach.readmodels._wake.is_set()
    assert outreach.named == []


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_D12_a_delivery_that_records_wakes_the_read_models_and_keeps_its_divisions_in_the_meta(
        outreach: Any, many: bool) -> None:
    outreach.readmodels._wake.clear()
    case_id = uuid4()
    quiet = decided(1, connect_to=[])
    connecting = decided(2, connect_to=["outreach"], case_id=case_id)  # D12: the meeting connects the person

    if many:
        assert outreach.receive_many([quiet, connecting]) == [True, True]
    else:
        assert outreach.receive(*quiet) and outreach.receive(*connecting)

    assert outreach.readmodels._wake.is_set()
    (started,) = list(outreach.events_of(case_id))
    assert isinstance(started, Engagement.Started)
    expected = divisions_upstream(*connecting)
    assert expected and set(expected) >= {ELDERLY.division, HARDSHIP.division}
    assert started.meta["upstream_divisions"] == expected
    assert list(started.meta) == ["case_id", "correlation_id", "actor", "caused_by", "upstream_divisions"]
    assert len(outreach.named) == 1  # once for the event recorded (`expected` here is remembered), none for the quiet one
