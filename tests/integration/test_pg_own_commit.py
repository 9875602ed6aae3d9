"""A PostgreSQL insert whose connection was lost after the commit is not a conflict (issue 19, fault harness).

The library retries an insert whose connection was lost (`OperationalError`); when the server had committed the
first try, the second meets its own rows. That must be the command's success, not a conflict: answered 409, or run
again by the service's retry of conflicts (shared/web/retry.py), it recorded its effect twice under the fault
harness (tests/faults, PostgreSQL connections killed every 0.7 s). Rows of the same aggregate version with other
bytes are still the conflict they are (shared/kernel/store.py `retrying_own_commit`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError
from support.municipality import ELDERLY
from support.servers import Postgres

from services.intake.application import IntakeApplication
from shared.kernel.store import committed_before, retrying_own_commit, store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres
STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


@pytest.fixture
def intake(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApplication]:
    prefix = f"oc_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    app = IntakeApplication(env=store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": "0"})
    try:
        yield app
    finally:
        app.close()
        postgres.drop_schemas(prefix)


def losing_the_answer(monkeypatch: pytest.MonkeyPatch, app: IntakeApplication, first: Any) -> list[Any]:
    """The recorder's insert, whose first try runs `first(self, stored_events)` and then loses its connection."""
    recorder_class = type(app.recorder)
    library_insert = recorder_class.insert_events.__wrapped__  # without the retry (functools.wraps)
    tries: list[Any] = []

    def flaky(self: Any, stored_events: Any, **kwargs: Any) -> Any:
        tries.append(stored_events)
        if len(tries) == 1:
            first(self, stored_events, library_insert)
            raise OperationalError("server closed the connection unexpectedly (after the commit)")
        return library_insert(self, stored_events, **kwargs)

    monkeypatch.setattr(recorder_class, "insert_events", retrying_own_commit(flaky))
    return tries


def test_a_commit_whose_answer_was_lost_is_the_commands_success_recorded_once(
        intake: IntakeApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    head = intake.recorder.max_notification_id() or 0
    tries = losing_the_answer(monkeypatch, intake, lambda self, events, insert: insert(self, events))
    case_id = intake.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                          {"name": "調布 花子"}, None)
    assert len(tries) == 2  # the library's retry met the rows of its own first try
    stored = list(intake.recorder.select_notifications(start=head + 1, limit=100))
    assert len(stored) == len(tries[0])  # recorded once
    assert intake.case_view(case_id)["status"]  # and readable as the command's result


def test_rows_of_the_same_version_with_other_bytes_stay_a_conflict(
        intake: IntakeApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    def another_writer(self: Any, events: Any, insert: Any) -> None:  # the same versions, other bytes
        insert(self, [dataclasses.replace(e, state=bytes(e.state) + b"x") for e in events])

    losing_the_answer(monkeypatch, intake, another_writer)
    with pytest.raises(IntegrityError):
        intake.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                    {"name": "調布 次郎"}, None)


def test_committed_before_names_the_ids_only_for_the_very_bytes(intake: IntakeApplication) -> None:
    intake.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], {"name": "調布 三郎"}, None)
    last = list(intake.recorder.select_notifications(start=1, limit=100))[-1]
    assert committed_before(intake.recorder, [last]) == [last.id]
    assert committed_before(intake.recorder, [dataclasses.replace(last, state=b"other")]) is None
