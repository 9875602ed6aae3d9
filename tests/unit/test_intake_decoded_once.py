"""A request about an intake case decodes the case once, not twice (issue 19, shared/kernel/decoded_once.py): the
policy's division scope check (D2, issue 13) decodes it and the route's use case takes that decode. The refusals are
those of before, a command that loses a race with the inbox still runs again on the fresh record, and a case kept
between loads (`JUSOU_AGGREGATE_CACHE`) is never handed to a command. Intake keeps its cases as it recorded or read
them (shared/domain/kept_reads.py, issue 19's seventh pass: tests/unit/test_intake_kept_cases.py): the counts here
are of a case this process did not keep, or may not keep."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import LRUCache
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import DISABILITY, ELDERLY

from services.intake.application import IntakeApplication
from services.intake.domain import Case
from shared.domain.kept_reads import READS_KEPT
from shared.kernel import decoded_once
from shared.kernel.journey import acting
from unit.builders import COUNTER_STAFF, IN_MEMORY, PERSON

COUNSELOR = staff_headers(COUNTER_STAFF["staff_id"], ELDERLY.division, "counselor")
CONSENT = {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}


class Counted:
    """The application's repository, counting the case loads that decode (replay) it."""

    def __init__(self, app: IntakeApplication) -> None:
        self.app, self.real, self.decoded = app, app.repository.get, 0
        app.repository.get = self.get  # type: ignore[method-assign]

    def get(self, aggregate_id: UUID, **kwargs: Any) -> Any:
        found = self.real(aggregate_id, **kwargs)
        self.decoded += isinstance(found, Case)
        return found


def served(env: dict[str, str]) -> Generator[tuple[TestClient, IntakeApplication], None, None]:
    from services.intake.main import api

    app = IntakeApplication(env=env)
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


@pytest.fixture
def intake() -> Iterator[tuple[TestClient, IntakeApplication]]:
    yield from served(dict(IN_MEMORY))


def received(app: IntakeApplication) -> UUID:
    return app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                    dict(PERSON), None, True)


def not_kept(app: IntakeApplication) -> None:
    """As a replica that did not record the case: nothing kept (intake keeps its cases, shared/domain/kept_reads.py)."""
    app.reads_kept = LRUCache(maxsize=READS_KEPT)


def test_d2_a_case_command_decodes_the_case_once_for_its_scope_check_and_its_use_case(
        intake: tuple[TestClient, IntakeApplication]) -> None:
    """The scope check decodes the case (and keeps it); the command is given its own copy of that, not a decode."""
    client, app = intake
    case_id = received(app)
    not_kept(app)
    counted = Counted(app)

    answer = client.post(f"/cases/{case_id}/consent", json=CONSENT, headers=COUNSELOR)

    assert answer.status_code == 200, answer.text
    assert counted.decoded == 1, "the scope check's decode is the command's (it was 2)"
    assert app.case_view(case_id)["consent"]["granted"] is True


def test_d2_a_case_read_decodes_the_case_once(intake: tuple[TestClient, IntakeApplication]) -> None:
    client, app = intake
    case_id = received(app)
    not_kept(app)
    counted = Counted(app)

    answer = client.get(f"/cases/{case_id}", headers=COUNSELOR)
    again = client.get(f"/cases/{case_id}", headers=COUNSELOR)

    assert answer.status_code == 200, answer.text
    assert answer.json()["case_id"] == str(case_id) and again.json() == answer.json()
    assert counted.decoded == 1, "decoded at the first read's scope check only: kept since"


def test_d2_a_case_never_kept_is_decoded_once_per_read(intake: tuple[TestClient, IntakeApplication]) -> None:
    """A case closed here with its note is never kept (maybe personal): each read decodes it once, at its scope check,
    and the route's read takes that decode (the request's own)."""
    client, app = intake
    case_id = received(app)
    app.close_case(COUNTER_STAFF, case_id, "resolved", "家族の事情")
    counted = Counted(app)

    answers = [client.get(f"/cases/{case_id}", headers=COUNSELOR) for _ in range(2)]

    assert [a.json()["status"] for a in answers] == ["closed", "closed"]
    assert counted.decoded == 2


def test_d2_another_divisions_command_is_refused_by_the_scope_check_as_before(
        intake: tuple[TestClient, IntakeApplication]) -> None:
    client, app = intake
    case_id = received(app)
    outsider = staff_headers("other-001", DISABILITY.division, "counselor")

    refused = client.post(f"/cases/{case_id}/consent", json=CONSENT, headers=outsider)

    assert refused.status_code == 403, refused.text
    assert app.case_view(case_id)["consent"] is None or not app.case_view(case_id)["consent"].get("granted")
    assert client.post(f"/cases/{uuid4()}/consent", json=CONSENT, headers=COUNSELOR).status_code == 404


def test_d9_a_command_that_loses_a_race_with_the_inbox_runs_again_on_the_fresh_case(
        intake: tuple[TestClient, IntakeApplication], monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the scope check's decode and the command, another event is recorded on the case (the inbox noting a
    sitting): the command's save on the decode it took is refused by the store, and it runs again on the fresh case,
    so both are recorded, the consent once."""
    client, app = intake
    case_id = received(app)
    checked = app.case_divisions

    def check_then_the_inbox_records(found: UUID) -> frozenset[str]:
        divisions = checked(found)
        other = app.load(found, Case, "ケース")
        with acting({"service": "meeting"}):
            other.note_sitting(uuid4(), "jusou_shien_kaigi", "2026-12-01", [ELDERLY.division])
        app.save(other)
        return divisions

    monkeypatch.setattr(app, "case_divisions", check_then_the_inbox_records)
    answer = client.post(f"/cases/{case_id}/consent", json=CONSENT, headers=COUNSELOR)

    assert answer.status_code == 200, answer.text
    kinds = [type(e).__name__ for e in app.events_of(case_id)]
    assert kinds.count("SittingNoted") == 1 and kinds.count("ConsentRecorded") == 1, kinds


def test_a_case_kept_between_loads_is_never_handed_to_a_command(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `JUSOU_AGGREGATE_CACHE` on, the scope check reads the kept case itself (no copy): it is left to no one,
    and the command loads its own copy, so what is kept is never changed by a command."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "intake.sqlite"),
           "JUSOU_READMODELS_FOLLOW": "0", "JUSOU_AGGREGATE_CACHE": "100"}
    left: list[Any] = []
    real_leave = decoded_once.leave

    def leave(aggregate: Any) -> None:
        left.append(aggregate)
        real_leave(aggregate)

    monkeypatch.setattr(decoded_once, "leave", leave)
    client, app = next(kept_app := served(env))
    case_id = received(app)
    client.get(f"/cases/{case_id}", headers=COUNSELOR)  # now kept
    kept = app.repository.kept.get(case_id)  # type: ignore[attr-defined]

    answer = client.post(f"/cases/{case_id}/consent", json=CONSENT, headers=COUNSELOR)

    assert answer.status_code == 200, answer.text
    assert left == [] and not kept.pending_events and kept.version == 1
    assert app.case_view(case_id)["consent"]["granted"] is True
    kept_app.close()


def test_outside_a_request_nothing_is_left_or_taken() -> None:
    """The inbox's and the relay's threads open no slot: a decode there is handed to no one."""
    case = SimpleNamespace(id=uuid4())
    decoded_once.leave(case)
    assert decoded_once.take(case.id, SimpleNamespace) is None
