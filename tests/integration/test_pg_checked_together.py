"""Issue 19: on PostgreSQL, the meeting's decision checks the sitting, the plan and the consent it keeps in one round trip
(shared/kernel/lean.py `rendered_reads`' `newer_of`), not three, and still sees what another replica recorded on the
same schema meanwhile (D9: a withdrawn consent refuses the decision)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from support.servers import Postgres
from unit.builders import ATTENDEES, SECRETARIAT
from unit.test_meeting import Feeds, decide

from services.meeting.application import MeetingApplication
from services.meeting.domain import ConsentMissing
from shared.kernel.store import store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    prefix = f"ct_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    env = store_env(Settings.from_env("meeting")) | {"JUSOU_READMODELS_FOLLOW": "0"}
    one, other = MeetingApplication(env=dict(env)), MeetingApplication(env=dict(env))
    try:
        yield one, other
    finally:
        one.close()
        other.close()
        postgres.drop_schemas(prefix)


def test_d5_d9_a_decision_on_postgres_checks_what_it_keeps_in_one_round_trip(
        replicas: tuple[MeetingApplication, MeetingApplication], monkeypatch: pytest.MonkeyPatch) -> None:
    one, other = replicas
    feeds, case_id = Feeds(one), uuid4()
    feeds.consent(case_id)
    plan_id = feeds.propose(case_id)
    sitting = one.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    recorder: Any = one.recorder
    asked: list[str] = []
    for name in ("newer_of", "select_events"):
        real = getattr(recorder, name)
        monkeypatch.setattr(recorder, name, lambda *a, _real=real, _name=name, **k: asked.append(_name) or _real(*a, **k))

    decide(one, sitting, plan_id, "revision_requested")
    assert asked == ["newer_of"]  # was three select_events, one per aggregate

    feeds.propose(case_id, plan_id, revision=2)
    other_feeds = Feeds(other)
    other_feeds.intake = feeds.intake  # (intake's positions go on)
    other_feeds.consent(case_id, granted=False)  # recorded by the other replica
    with pytest.raises(ConsentMissing):
        decide(one, sitting, plan_id, "approved")
    assert one.listed(plan_id).status == "proposed"
