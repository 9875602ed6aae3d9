"""The division scope of a case (`ServiceApplication.case_divisions`) decodes each event once (issue 19), and is
still exactly what the case's events name: a division the history does not name is never granted, and one an
event names (a newly connected agency) is granted at once, also when another replica of the service recorded
that event into the same store, and after a reorganisation (the successor of an ended division)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY, HARDSHIP, LEAD

from services.collaboration.application import CollaborationApplication
from services.intake.application import IntakeApplication
from shared.organisation import reference
from shared.organisation.municipality import DATA
from shared.organisation.scope import PROGRAM_DIVISIONS, divisions_named
from unit.builders import COORDINATOR, Upstream, in_memory


def sqlite(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "JUSOU_READMODELS_FOLLOW": "0"}


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[CollaborationApplication, CollaborationApplication]]:
    """Two replicas of collaboration recording into one store (as in the cluster shape)."""
    one = CollaborationApplication(env=sqlite(tmp_path / "collaboration.sqlite"))
    two = CollaborationApplication(env=sqlite(tmp_path / "collaboration.sqlite"))
    yield one, two
    one.close()
    two.close()


def escalated(app: CollaborationApplication, primary_agency: str, upstream: Upstream) -> UUID:
    case_id = uuid4()
    assert app.receive(*upstream.emit("CaseEscalated", {
        "reason": "8050: 母の介護と本人のひきこもり", "concerns": ["高齢・介護"], "primary_agency": primary_agency},
        case_id))
    return case_id


def named_by_history(app: CollaborationApplication, case_id: UUID) -> frozenset[str]:
    """What `case_divisions` was before the cache: every event of the case decoded, every call."""
    found = set(PROGRAM_DIVISIONS.get(app.service, frozenset()))
    for row in app.history(case_id):
        found |= divisions_named(row)
    return frozenset(found)


def test_a_division_an_event_names_is_granted_at_once_also_when_another_replica_recorded_it(
    replicas: tuple[CollaborationApplication, CollaborationApplication],
) -> None:
    one, two = replicas
    upstream = Upstream("intake")
    case_id = escalated(one, ELDERLY.ja, upstream)
    other = escalated(one, ELDERLY.ja, upstream)
    newcomer = HARDSHIP.division
    assert newcomer not in PROGRAM_DIVISIONS["collaboration"] | {ELDERLY.division, LEAD}, "the test needs a newcomer"

    before = one.case_divisions(case_id)
    assert newcomer not in before and before == named_by_history(one, case_id)
    assert one.case_divisions(case_id) == before  # kept: nothing decoded again
    decoded = one._case_scope.decoded

    # the other replica connects the case to the hardship counter's agency (a plan role names it)
    two.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], [{"agency": HARDSHIP.ja, "responsibility": "家計相談"}])

    after = one.case_divisions(case_id)
    assert newcomer in after, "a newly connected agency's division reads the case at once"
    assert after == named_by_history(one, case_id) == two.case_divisions(case_id)
    assert 0 < one._case_scope.decoded - decoded < len(one.case_positions(case_id)), "only the new events decoded"
    # and nothing of it reaches another case
    assert newcomer not in one.case_divisions(other) and one.case_divisions(other) == named_by_history(one, other)


def test_the_kept_divisions_are_read_again_when_the_case_index_is_not_what_was_read(
    replicas: tuple[CollaborationApplication, CollaborationApplication],
) -> None:
    """A case index that no longer starts with the positions read (a rebuilt read model, a replaced store) is read
    from the first event again, never answered from what was kept."""
    one, _ = replicas
    case_id = escalated(one, ELDERLY.ja, Upstream("intake"))
    assert one.case_divisions(case_id) == named_by_history(one, case_id)
    kept = one._case_scope._kept[case_id]
    # as if the positions read had been others: a division no event names, kept for them
    one._case_scope._kept[case_id] = type(kept)((-1,), frozenset({"not-named-by-any-event"}), kept.epoch)

    assert one.case_divisions(case_id) == named_by_history(one, case_id)
    assert "not-named-by-any-event" not in one.case_divisions(case_id)


def reorganised_on(tmp_path: Path, day: date) -> Path:
    """架空市's file with its reorganisation on `day` (高齢福祉課 merges into 高齢介護課): test_reorganisation.py."""
    text = (DATA / "kakushi.toml").read_text(encoding="utf-8")
    text = text.replace("2027-03-31", (day - timedelta(days=1)).isoformat()).replace("2027-04-01", day.isoformat())
    path = tmp_path / f"kakushi-{day.isoformat()}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def municipality(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[date], None]:
    def use(day: date) -> None:
        monkeypatch.setenv("JUSOU_MUNICIPALITY_FILE", str(reorganised_on(tmp_path, day)))

    return use


def test_a_reorganisation_is_seen_at_once_by_the_kept_divisions(municipality: Callable[[date], None]) -> None:
    """Kept before the reorganisation, the case's scope names the ended division's successor from its day on."""
    today = reference.today()
    municipality(today + timedelta(days=1))  # the day before
    app = in_memory(CollaborationApplication)
    case_id = escalated(app, "高齢福祉課", Upstream("intake"))
    assert "korei-fukushi" in app.case_divisions(case_id) and "korei-kaigo" not in app.case_divisions(case_id)

    municipality(today)  # the reorganisation's day: 高齢介護課 works 高齢福祉課's cases
    assert "korei-kaigo" in app.case_divisions(case_id)
    assert app.case_divisions(case_id) == named_by_history(app, case_id)


def test_only_a_program_s_own_divisions_skip_reading_the_case() -> None:
    """The policy reads no case for the divisions that run the program (every case names them), only while the
    service's `case_divisions` is the kernel's: intake's names a case's readers only."""
    collaboration = in_memory(CollaborationApplication)
    intake = in_memory(IntakeApplication)
    runs = next(iter(PROGRAM_DIVISIONS["collaboration"]))
    assert collaboration.reads_every_case(runs)
    assert not collaboration.reads_every_case(HARDSHIP.division) or HARDSHIP.division in PROGRAM_DIVISIONS[
        "collaboration"]
    assert not collaboration.reads_every_case(None)
    assert not intake.reads_every_case(ELDERLY.division) and not intake.reads_every_case(LEAD)


def test_the_gate_grants_a_newly_connected_agency_at_once_and_refuses_before(
    replicas: tuple[CollaborationApplication, CollaborationApplication],
) -> None:
    """Through the policy's gate (shared/web/policy.py) of collaboration's app: the hardship counter's welfare
    coordinator is refused the case until a plan names its agency (recorded by the other replica), then reads it."""
    from services.collaboration.main import api

    one, two = replicas
    case_id = escalated(one, ELDERLY.ja, Upstream("intake"))
    outsider = staff_headers("csw-009", HARDSHIP.division, "welfare_coordinator")
    api.state.runtime = SimpleNamespace(app=one)  # no lifespan (no bus): the replica's application only
    try:
        client = TestClient(api)
        refused = client.get(f"/cases/{case_id}", headers=outsider)
        assert refused.status_code == 403, refused.text
        own = client.get(f"/cases/{case_id}", headers=staff_headers(*COORDINATOR.values(), "coordinator"))
        assert own.status_code == 200, own.text
        two.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], [{"agency": HARDSHIP.ja, "responsibility": "家計"}])
        granted = client.get(f"/cases/{case_id}", headers=outsider)
        assert granted.status_code == 200, granted.text
    finally:
        del api.state.runtime
