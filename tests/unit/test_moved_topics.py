"""Stored events keep loading after shared/ moved into layers (issue 14): an event recorded under
its old topic (`shared.plan:Plan.Drafted`, `shared.idempotency:IdempotentRequest.Requested`) in a
real SQLite store loads as the class at its new place (shared/kernel/moved.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

from eventsourcing.application import Application

from shared.domain.plan import Plan
from shared.kernel.idempotency import IdempotentRequest
from shared.kernel.journey import acting
from unit.builders import COORDINATOR, ROLES


def sqlite_app(path: Path) -> Application:
    return Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def test_moved_topics_events_stored_under_the_old_module_names_still_load(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    app = sqlite_app(db)
    with acting(COORDINATOR):
        plan = Plan.draft(uuid4(), "collaboration", "本人の社会参加を段階的に支える", ["訪問で会える関係"], ROLES)
        plan.propose()
    record = IdempotentRequest(uuid4(), "/cases", "fingerprint", ["x"])
    record.give_answer(201, "application/json", "/cases/1", "{}")
    app.save(plan, record)
    del app

    with sqlite3.connect(db) as connection:  # as a store written before the move holds them
        connection.execute("UPDATE stored_events SET topic = replace(topic, 'shared.domain.plan:', 'shared.plan:')")
        connection.execute(
            "UPDATE stored_events SET topic = replace(topic, 'shared.kernel.idempotency:', 'shared.idempotency:')")
        topics = sorted(row[0] for row in connection.execute("SELECT topic FROM stored_events"))
    assert topics == ["shared.idempotency:IdempotentRequest.Answered", "shared.idempotency:IdempotentRequest.Requested",
                      "shared.plan:Plan.Drafted", "shared.plan:Plan.Proposed"]

    again = sqlite_app(db)
    loaded = again.repository.get(plan.id)
    assert type(loaded) is Plan and loaded.version == plan.version and loaded.goals == plan.goals
    answered = again.repository.get(record.id)
    assert type(answered) is IdempotentRequest and answered.answer == record.answer
