"""The key per person and the mapper that seals a person's fields with it (crypto-shredding, issue 6)."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from cryptography.exceptions import InvalidTag

from services.intake.application import IntakeApplication
from services.intake.domain import Person
from services.intake.keys import MemoryKeys, PersonKeys, SQLiteKeys
from unit.builders import PERSON, in_memory

MASTER = os.urandom(32)


@pytest.fixture(params=["memory", "sqlite"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> PersonKeys:
    return MemoryKeys(MASTER) if request.param == "memory" else SQLiteKeys(MASTER, tmp_path / "intake.keys.sqlite")


def test_erasure_a_key_is_kept_until_deleted_and_deleting_twice_is_harmless(keys: PersonKeys) -> None:
    one, other = uuid4(), uuid4()
    key = keys.create(one)
    keys.create(other)

    assert keys.get(one) == key and len(key) == 32 and keys.get(other) not in (None, key)
    keys.delete(one)
    keys.delete(one)
    assert keys.get(one) is None and keys.get(other) is not None
    assert keys.get(uuid4()) is None


def test_erasure_keys_are_wrapped_with_the_master_key_and_bound_to_their_person(tmp_path: Path) -> None:
    path = tmp_path / "intake.keys.sqlite"
    one, other = uuid4(), uuid4()
    key = SQLiteKeys(MASTER, path).create(one)
    SQLiteKeys(MASTER, path).create(other)

    assert key not in path.read_bytes(), "a key is stored unwrapped"
    with pytest.raises(InvalidTag):
        SQLiteKeys(os.urandom(32), path).get(one)  # another master key cannot unwrap it
    swapped = SQLiteKeys(MASTER, path)
    wrapped = swapped._get(str(other))
    assert wrapped is not None
    swapped._delete(str(one))
    swapped._put(str(one), wrapped)
    with pytest.raises(InvalidTag):
        swapped.get(one)  # another person's wrapped key does not pass for theirs


def stored_state(app: IntakeApplication, person: Person) -> dict[str, object]:
    """The JSON the store keeps for the person's first event (inside the suite's cipher, here none)."""
    [stored] = app.recorder.select_events(person.id)
    return orjson.loads(app.mapper.compressor.decompress(stored.state) if app.mapper.compressor else stored.state)


def test_erasure_personal_fields_are_stored_sealed_and_read_as_none_once_the_key_is_gone() -> None:
    app = in_memory(IntakeApplication)
    person = Person(**PERSON)
    app.save(person)
    state = stored_state(app, person)

    assert not set(Person.personal_fields) & set(state), "a personal field is stored in the clear"
    assert state["sealed"]["fields"] == list(Person.personal_fields)  # type: ignore[index]
    assert not any(PERSON[f].encode() in orjson.dumps(state) for f in ("name", "kana", "address", "phone"))
    assert app.person_view(person.id)["name"] == PERSON["name"]

    app.keys.delete(person.id)
    again: Person = app.repository.get(person.id)
    assert [getattr(again, f) for f in Person.personal_fields] == [None] * 5


def test_erasure_a_sealed_field_moved_to_another_person_does_not_decrypt() -> None:
    app = in_memory(IntakeApplication)
    one, other = Person(**PERSON), Person(**{**PERSON, "name": "別人"})
    app.save(one, other)
    [first] = app.recorder.select_events(one.id)
    [second] = app.recorder.select_events(other.id)
    forged = type(first)(originator_id=other.id, originator_version=1, topic=first.topic, state=first.state)

    assert app.mapper.to_domain_event(second).name == "別人"  # type: ignore[attr-defined]
    with pytest.raises(InvalidTag):
        app.mapper.to_domain_event(forged)
