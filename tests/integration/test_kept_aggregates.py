"""Decoded aggregates kept between loads (issue 19, `JUSOU_AGGREGATE_CACHE`, shared/kernel/app.py `KeptAggregates`).

A service keeps decoded aggregates so that a command or a read replays only the events recorded after the
kept version. What must hold, on real stores (SQLite files; PostgreSQL where marked):
- replicas: two applications on one store (two processes of a service, or two partitions' owners) each
  see the other's events at their next load, for reads and for commands (no conflict, nothing lost);
- a command whose save is refused leaves nothing of its unrecorded events in what is kept;
- erasure (D9 D10 D17): nothing a person's key opened is kept, so once their key is deleted, by any replica,
  no replica serves their name, 主訴, 続柄 or case notes from memory;
- D20: one application per municipality (shared/tenancy.py), each keeping its own aggregates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Repository
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from support.municipality import HARDSHIP
from support.servers import Postgres

from services.intake.application import IntakeApplication
from services.intake.domain import Case, Household, Person, Reception
from shared.domain.casework import CaseFile, case_file_id
from shared.kernel.app import KeptAggregates, ServiceApplication, aggregate_cache_size
from shared.kernel.idempotency import IdempotentRequest
from shared.kernel.journey import acting
from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings

STAFF = {"staff_id": "s-014", "division": HARDSHIP.division}
SUPERVISOR = {"staff_id": "kanri-001", "division": HARDSHIP.division}


def person_with_needles() -> dict[str, str]:
    token = uuid4().hex[:6].upper()
    return {"name": f"深大寺 鶇{token}", "kana": f"じんだいじ つぐみ{token}", "birth_date": "1950-02-03",
            "address": f"調布市深大寺北町七丁目{token}", "phone": f"080-{token[:4]}-9{token[4:]}7"}


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, str]]:
    """A service's store settings on SQLite files in `tmp_path` (each call: the same store)."""
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    monkeypatch.setenv("JUSOU_AGGREGATE_CACHE", "1000")  # kept (the default, 0, keeps none)
    return lambda: store_env(Settings.from_env("intake"))


@pytest.fixture
def replicas(sqlite_env: Callable[[], dict[str, str]]) -> Iterator[tuple[IntakeApplication, IntakeApplication]]:
    """Two intake replicas on one store (as two processes are: each its own connection and its own kept aggregates)."""
    a, b = IntakeApplication(env=sqlite_env()), IntakeApplication(env=sqlite_env())
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def receive(app: IntakeApplication, person: dict[str, str] | None = None) -> UUID:
    return app.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "電話", ["生活困窮"],
                                    person or person_with_needles(), None, True)


def kept(app: ServiceApplication) -> KeptAggregates:
    assert isinstance(app.repository, KeptAggregates), "the default keeps decoded aggregates"
    return app.repository


# -- replicas ---------------------------------------------------------------------------------------------------


def test_a_kept_case_reads_the_other_replicas_event_before_it_is_shown(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    a, b = replicas
    case_id = receive(a)
    assert a.read(case_id, Case, "ケース").view()["status"] == b.case_view(case_id)["status"] == "open"
    hits = kept(a).hits

    b.escalate_case(STAFF, case_id, "複合", HARDSHIP.ja)

    assert a.read(case_id, Case, "ケース").view()["status"] == "escalated", \
        "replica a showed its kept case without b's event"
    assert kept(a).hits == hits + 1, "the case was kept, and fast-forwarded (not decoded again)"


def test_a_command_on_a_kept_case_after_the_other_replicas_command_records_without_a_conflict(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    a, b = replicas
    case_id = receive(a)
    held = a.read(case_id, Case, "ケース")  # kept by a at version 1 (the scope check's read)
    b.record_consent(STAFF, case_id, "関係機関との情報共有", True, "書面")

    a.escalate_case(STAFF, case_id, "複合", HARDSHIP.ja)  # a version behind what a kept: refused without fast-forward

    assert held.version == 1 and held.view()["status"] == "open", "the command changed what a reader holds"

    events = [type(e).__qualname__ for e in b.events_of(case_id)]
    assert events[-2:] == ["Case.ConsentRecorded", "Case.Escalated"]
    assert b.case_view(case_id)["status"] == a.case_view(case_id)["status"] == "escalated"


def test_a_refused_save_leaves_nothing_of_its_events_in_what_is_kept(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    a, b = replicas
    case_id = receive(a)
    a.case_divisions(case_id)  # kept (the scope check's read): the next load is a copy of the kept case
    first: Case = a.load(case_id, Case, "ケース")
    assert kept(a).hits == 1
    b.escalate_case(STAFF, case_id, "複合", HARDSHIP.ja)
    with acting(STAFF), pytest.raises(IntegrityError):  # `first` is a version behind: its event conflicts with b's
        first.record_consent(scope="関係機関との情報共有", granted=True, method="書面", covers=["related_agencies"])
        a.save(first)

    again: Case = a.load(case_id, Case, "ケース")
    assert [type(e).__qualname__ for e in a.events_of(case_id)][-1] == "Case.Escalated"
    assert again.version == len(list(a.events_of(case_id))) and again.view()["status"] == "escalated"
    assert again.view() == b.load(case_id, Case, "ケース").view()


def test_what_a_caller_changes_is_not_what_is_kept(replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    a, _ = replicas
    case_id = receive(a)
    a.case_divisions(case_id)  # kept (the scope check's read): the next load is a copy of the kept case
    loaded: Case = a.load(case_id, Case, "ケース")
    assert kept(a).hits == 1
    with acting(STAFF):
        loaded.record_consent(scope="関係機関との情報共有", granted=True, method="書面",
                              covers=["related_agencies"])  # never saved
    assert a.load(case_id, Case, "ケース").version == loaded.version - 1


def test_a_read_is_given_the_kept_case_itself_and_a_fast_forward_never_changes_what_a_reader_holds(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    a, b = replicas
    case_id = receive(a)
    before = a.read(case_id, Case, "ケース")
    assert a.read(case_id, Case, "ケース") is before, "a read of an unchanged case is not copied"

    b.escalate_case(STAFF, case_id, "複合", HARDSHIP.ja)
    after = a.read(case_id, Case, "ケース")

    assert after.view()["status"] == "escalated" and a.case_divisions(case_id) == b.case_divisions(case_id)
    assert before.view()["status"] == "open" and before.version == after.version - 1, \
        "the other replica's event was applied to the aggregate a reader was holding"
    assert a.load(case_id, Case, "ケース") is not after, "a command is given its own copy"


def test_a_kept_case_a_reader_changed_by_mistake_is_decoded_anew(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    a, _ = replicas
    case_id = receive(a)
    held = a.read(case_id, Case, "ケース")
    with acting(STAFF):
        held.record_consent(scope="関係機関との情報共有", granted=True, method="書面", covers=["related_agencies"])

    assert a.load(case_id, Case, "ケース").version == len(list(a.events_of(case_id))) == held.version - 1


def test_threads_reading_a_kept_case_while_the_other_replica_records_see_each_version_whole(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    """Readers (scope checks without a copy, loads with one) in three threads of replica a, while replica b records
    20 events on the case: none fails, none sees a version whose state is not that version's, and a ends where b
    does."""
    a, b = replicas
    case_id = receive(a)
    seen: list[tuple[int, str | None]] = []  # (version, the consent's method in that version's state)
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                a.case_divisions(case_id)
                for case in (a.read(case_id, Case, "ケース"), a.load(case_id, Case, "ケース")):
                    seen.append((case.version, (case.consent or {}).get("method")))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for i in range(20):
            b.record_consent(STAFF, case_id, "関係機関との情報共有", True, f"書面{i + 2}")  # recorded as version i + 2
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert errors == []
    assert len({version for version, _ in seen}) > 2, "the readers saw the case move"
    assert [(v, m) for v, m in seen if m != (f"書面{v}" if v > 1 else None)] == [], "a state that is not its version's"
    assert a.load(case_id, Case, "ケース").view() == b.load(case_id, Case, "ケース").view()


def test_a_commands_load_keeps_an_aggregate_from_its_third_event_a_read_from_its_first(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    """A young aggregate that only commands load is decoded again each time: its copy would cost more than that."""
    a, _ = replicas
    case_id = receive(a)
    a.record_consent(STAFF, case_id, "関係機関との情報共有", True, "書面")  # a command's load at version 1
    assert case_id not in kept(a).kept.cache
    a.record_consent(STAFF, case_id, "関係機関との情報共有", False, "書面")  # at version 2
    assert case_id not in kept(a).kept.cache
    a.record_consent(STAFF, case_id, "関係機関との情報共有", True, "書面")  # at version 3: kept
    assert case_id in kept(a).kept.cache and a.load(case_id, Case, "ケース").version == 4 and kept(a).hits == 1
    other = receive(a)
    a.case_divisions(other)  # a read keeps it at version 1
    assert other in kept(a).kept.cache


@pytest.mark.postgres
def test_replicas_on_postgresql_each_read_the_others_events_into_what_they_keep(
        postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_AGGREGATE_CACHE", "1000")
    for name, value in {**postgres.env(f"ka_{uuid4().hex[:8]}_"), "JUSOU_PG_POOL_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env("intake")
    a = IntakeApplication(env=store_env(settings))
    b = IntakeApplication(env=store_env(settings))
    try:
        case_id = receive(a)
        assert a.case_divisions(case_id) == b.case_divisions(case_id)  # both keep it (the scope check's read)
        a.record_consent(STAFF, case_id, "関係機関との情報共有", True, "書面")
        b.escalate_case(STAFF, case_id, "複合", HARDSHIP.ja)  # b kept it before a's consent
        assert a.read(case_id, Case, "ケース").view()["status"] == "escalated" and kept(a).hits and kept(b).hits
        assert a.load(case_id, Case, "ケース").version == b.load(case_id, Case, "ケース").version == 3
    finally:
        a.close()
        b.close()
        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.pg_schema}" CASCADE')


# -- erasure ----------------------------------------------------------------------------------------------------


def test_d17_d9_no_replica_serves_an_erased_persons_information_from_memory(
        replicas: tuple[IntakeApplication, IntakeApplication]) -> None:
    """Replica a reads everything of the person (their record, the 主訴, a 続柄, a case note); replica b erases them
    (their key deleted). Replica a's next reads show none of it: the aggregates holding what their key opened were
    never kept; the case itself (no personal information) is."""
    a, b = replicas
    person = person_with_needles()
    member = person_with_needles()
    case_id = a.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "電話", ["生活困窮"], person, None, True,
                                     reception={"main_complaint": f"家賃の滞納 {person['phone']}",
                                                "summary": f"{person['address']} に独居"})
    person_ref = UUID(a.case_view(case_id)["person_ref"])
    household_id = a.form_household(STAFF, case_id)
    member_ref = UUID(a.add_member(STAFF, household_id, "child", person=member, confirm_new_person=True))
    a.write_note(STAFF, case_id, datetime.now(UTC), "電話", f"{member['name']}（子）", f"{person['name']} と面談")

    def everything_of_them(app: IntakeApplication) -> str:
        aggregates = (person_ref, member_ref, Reception.id_for(case_id), household_id, case_file_id(case_id))
        return repr([*(vars(app.repository.get(i, deepcopy_from_cache=False)) for i in aggregates),  # reads: kept if
                     *(vars(app.repository.get(i)) for i in aggregates),  # anything is; and as commands load them
                     app.person_view(person_ref), app.person_view(member_ref), app.case_file(case_id)])

    needles = [person["name"], person["phone"], person["address"], member["name"], "家賃の滞納"]
    assert all(n in everything_of_them(a) for n in needles)  # read (and decoded) by a
    assert a.case_divisions(case_id) and kept(a).kept.cache.keys() & {case_id}  # the case is kept, as it may be
    assert not kept(a).kept.cache.keys() & {person_ref, member_ref, Reception.id_for(case_id), household_id,
                                            case_file_id(case_id)}

    b.erase_person(SUPERVISOR, person_ref, "person_request", "本人の請求")
    b.erase_person(SUPERVISOR, member_ref, "person_request", "本人の請求")

    shown = everything_of_them(a)
    assert [n for n in needles if n in shown] == []
    assert a.person_view(person_ref)["name"] == Person.ERASED and a.person_view(member_ref)["erased"]


@pytest.mark.parametrize("kind", [Person, Reception, Household, CaseFile])
def test_d17_intake_keeps_no_aggregate_whose_events_its_mapper_seals_with_a_persons_key(
        sqlite_env: Callable[[], dict[str, str]], kind: type[Aggregate]) -> None:
    app = IntakeApplication(env=sqlite_env())
    try:
        assert not app.keeps_decoded(object.__new__(kind))
        assert app.keeps_decoded(object.__new__(Case))
    finally:
        app.close()


def test_an_idempotency_key_record_is_not_kept(sqlite_env: Callable[[], dict[str, str]]) -> None:
    app = IntakeApplication(env=sqlite_env())
    try:
        assert not app.keeps_decoded(object.__new__(IdempotentRequest))
    finally:
        app.close()


# -- municipalities (D20) ---------------------------------------------------------------------------------------


class Note(Aggregate):
    """An aggregate whose id the test chooses: the same id in two municipalities' stores."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @staticmethod
    def create_id(text: str) -> UUID:  # the library's hook: an id given by the test
        return SHARED_ID

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


SHARED_ID = uuid4()


class Municipality(ServiceApplication):
    service = "intake"  # any service: only its store matters here
    name = "municipality"


def test_d20_each_municipalitys_application_keeps_its_own_aggregates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One application per municipality (shared/tenancy.py); an aggregate with the same id in both stores (ids
    derived from a case's or a referral's id can be) is read from its own municipality's store in each."""
    monkeypatch.setenv("JUSOU_AGGREGATE_CACHE", "1000")
    apps = {}
    for municipality in ("chofu", "kakushi"):
        folder = tmp_path / municipality
        folder.mkdir()
        apps[municipality] = Municipality(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                               "SQLITE_DBNAME": str(folder / "m.sqlite"), "JUSOU_READMODELS_FOLLOW": "0"})
    try:
        chofu, kakushi = apps["chofu"], apps["kakushi"]
        chofu.save(Note("調布の記録"))
        kakushi.save(Note("架空市の記録"))
        assert chofu.repository.get(SHARED_ID, deepcopy_from_cache=False).text == "調布の記録"  # a read: kept
        assert kakushi.repository.get(SHARED_ID, deepcopy_from_cache=False).text == "架空市の記録"
        amended = kakushi.repository.get(SHARED_ID)
        amended.amend("架空市の記録（訂正）")
        kakushi.save(amended)
        assert chofu.repository.get(SHARED_ID, deepcopy_from_cache=False).text == "調布の記録"
        assert kakushi.repository.get(SHARED_ID, deepcopy_from_cache=False).text == "架空市の記録（訂正）"
        assert kept(chofu).hits >= 1 and kept(kakushi).hits >= 2
    finally:
        for app in apps.values():
            app.close()


# -- the setting ------------------------------------------------------------------------------------------------


def test_the_setting_sizes_what_is_kept_and_zero_keeps_nothing(
        sqlite_env: Callable[[], dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    assert aggregate_cache_size({}) == 0  # off unless set (docs/capacity.md §5.5)
    assert aggregate_cache_size({"JUSOU_AGGREGATE_CACHE": "7"}) == 7
    with pytest.raises(ValueError, match="JUSOU_AGGREGATE_CACHE"):
        aggregate_cache_size({"JUSOU_AGGREGATE_CACHE": "many"})
    monkeypatch.setenv("JUSOU_AGGREGATE_CACHE", "0")
    app = IntakeApplication(env=sqlite_env())
    try:
        assert type(app.repository) is Repository and app.repository.cache is None
        case_id = receive(app)
        assert app.case_view(case_id)["status"] == "open"
    finally:
        app.close()
