"""A new person's data key (crypto-shredding, D9 D10 D17: services/intake/keys.py) is made in one statement, no
look-up first (issue 19), as durable as before: on disk before the person's first event is recorded, so a service
that stops dead right after the consultation's commit still opens the person afterwards; and erasure still deletes it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.intake.application import IntakeApplication
from services.intake.domain import Person
from services.intake.keys import MemoryKeys, PersonKeys, SQLiteKeys
from unit.builders import COUNTER_STAFF, PERSON

ROOT = Path(__file__).resolve().parents[2]
MASTER = os.urandom(32)


def sqlite_env(folder: Path, master: bytes) -> dict[str, str]:
    import base64

    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "intake.sqlite"),
            "JUSOU_READMODELS_FOLLOW": "0", "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
            "CIPHER_KEY": base64.b64encode(master).decode()}


@pytest.fixture(params=["memory", "sqlite"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> PersonKeys:
    return MemoryKeys(MASTER) if request.param == "memory" else SQLiteKeys(MASTER, tmp_path / "intake.keys.sqlite")


def test_d9_a_new_persons_key_is_made_once_and_the_same_first_event_again_gets_that_key(keys: PersonKeys) -> None:
    person = uuid4()
    key = keys.first(person)
    assert keys.first(person) == key == keys.get(person)
    keys.delete(person)
    assert keys.get(person) is None  # erasure: gone


def test_d9_a_new_persons_key_costs_one_statement_on_the_key_table(tmp_path: Path) -> None:
    app = IntakeApplication(env=sqlite_env(tmp_path, MASTER))
    try:
        assert isinstance(app.keys, SQLiteKeys)
        statements: list[str] = []
        app.keys._db.set_trace_callback(statements.append)
        app.receive_consultation(COUNTER_STAFF, *_counter(), "窓口", ["高齢・介護"], dict(PERSON), None, True)
        assert [s.split()[0] for s in statements] == ["INSERT"], statements  # was a SELECT, then the INSERT
    finally:
        app.close()


def _counter() -> tuple[str, str]:
    from support.municipality import ELDERLY

    return ELDERLY.code, ELDERLY.division


CRASH = """
import os, sys
sys.path[:0] = [{tests!r}, {root!r}]
from services.intake.application import IntakeApplication
from unit.builders import COUNTER_STAFF, PERSON
from support.municipality import ELDERLY
app = IntakeApplication(env={env!r})
case_id = app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"],
                                   dict(PERSON), None, True)
print(app.case_view(case_id)["person_ref"], flush=True)
os._exit(0)  # dead at once, right after the command's commit: nothing closed, nothing checkpointed
"""


def test_d9_a_new_persons_key_survives_the_service_stopping_dead_after_the_commit(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path, MASTER)
    done = subprocess.run([sys.executable, "-c", CRASH.format(tests=str(ROOT / "tests"), root=str(ROOT), env=env)],
                          check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    person_ref = UUID(done.stdout.split()[-1])
    with sqlite3.connect(tmp_path / "intake.keys.sqlite") as db:  # the key is in the file (or its WAL) on disk
        assert db.execute("SELECT count(*) FROM person_keys WHERE person_ref = ?", (str(person_ref),)).fetchone() == (1,)

    app = IntakeApplication(env=env)
    try:
        person: Person = app.load(person_ref, Person, "相談者")
        assert person.name == PERSON["name"] and not person.erased
    finally:
        app.close()
