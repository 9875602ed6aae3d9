"""D4: one open plan per case and program across two replicas of collaboration on one store, SQLite and PostgreSQL.
Replica B drafts a plan while replica A is between its check (no open plan) and its save: A's save is refused by the
store (the case's `OpenPlan` record, shared/domain/open_plan.py, written at the same version by both) and answered as
OpenPlanExists naming B's plan; the case has one plan. Failed before the record existed (both plans saved)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from support.servers import Postgres
from unit.builders import Upstream
from unit.test_hb2_d4_open_plan_race import a_plan, own_plans, racing
from unit.test_hd_d4_one_open_plan import closed_by_the_meeting, escalated

from services.collaboration.application import CollaborationApplication
from shared.domain.open_plan import OpenPlan, open_plan_id
from shared.domain.plan import OpenPlanExists
from shared.kernel.store import store_env
from shared.settings import Settings

Replicas = tuple[CollaborationApplication, CollaborationApplication]


def two_replicas(env: Callable[[], dict[str, str]]) -> Iterator[Replicas]:
    a, b = CollaborationApplication(env=env()), CollaborationApplication(env=env())
    try:
        yield a, b
    finally:
        for app in (a, b):
            app.close()


@pytest.fixture
def on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replicas]:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    yield from two_replicas(lambda: store_env(Settings.from_env("collaboration")))


@pytest.fixture
def on_postgres(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replicas]:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in {**postgres.env(f"hb2_{uuid4().hex[:8]}_"), "JUSOU_PG_POOL_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    yield from two_replicas(lambda: store_env(Settings.from_env("collaboration")))


def race(replicas: Replicas) -> None:
    a, b = replicas
    case_id = escalated(a, Upstream("intake"))
    won = racing(a, lambda: a_plan(b, case_id, "別の端末"))

    with pytest.raises(OpenPlanExists) as refused:
        a_plan(a, case_id)

    assert refused.value.plan_id == str(won[0]) and refused.value.status == 409
    assert own_plans(a, case_id) == own_plans(b, case_id) == won
    # after the meeting ends it, the two race again from the same state (the record's next version)
    closed_by_the_meeting(a, case_id, won[0], Upstream("meeting"))
    again = racing(b, lambda: a_plan(a, case_id, "三つ目"))
    with pytest.raises(OpenPlanExists) as refused:
        a_plan(b, case_id)
    assert refused.value.plan_id == str(again[0])
    assert own_plans(b, case_id) == [won[0], again[0]]
    assert b.read(open_plan_id("collaboration", case_id), OpenPlan, "記録").plan_id == again[0]


def test_d4_two_replicas_drafting_at_once_on_sqlite_keep_one_open_plan(on_sqlite: Replicas) -> None:
    race(on_sqlite)


@pytest.mark.postgres
def test_d4_two_replicas_drafting_at_once_on_postgresql_keep_one_open_plan(on_postgres: Replicas) -> None:
    race(on_postgres)
