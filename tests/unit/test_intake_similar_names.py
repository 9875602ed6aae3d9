"""D2 (issue 15): a reception's candidates on a similar name are those of difflib's ratio ≥ SIMILAR_NAME, exactly; the
two cheap upper bounds tried first (issue 19, services/intake/people.py `_alike`) rule out only names whose ratio is
below it; and the candidates looked up in the person index's own indexes are those of comparing with everyone."""

from __future__ import annotations

import random
import threading
from difflib import SequenceMatcher
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from services.intake.people import SIMILAR_NAME, PersonIndex, _alike, _digits, _text

LETTERS = "ちょうふいろはなこたやまだ一郎花子調布山田太"


def test_d2_a_similar_name_is_exactly_a_ratio_of_at_least_the_threshold() -> None:
    rng = random.Random(19)
    pairs = [("".join(rng.choices(LETTERS, k=rng.randint(2, 9))), "".join(rng.choices(LETTERS, k=rng.randint(2, 9))))
             for _ in range(20000)]
    pairs += [("ちょうふいちろう", "ちょうふいちろ"), ("調布一郎", "調布二郎"), ("山田花子", "花子山田"), ("ab", "abcd"), ("調布一郎", "調布一子")]  # the last: exactly 0.75
    for one, other in pairs:
        assert _alike(one, other) == (SequenceMatcher(None, one, other).ratio() >= SIMILAR_NAME), (one, other)
    assert any(_alike(one, other) for one, other in pairs) and not all(_alike(one, other) for one, other in pairs)


class _Index(PersonIndex):
    """The person index without a store: people added and erased as its catch-up would (`_add`, `_drop`)."""

    def __init__(self) -> None:
        super().__init__(None, None)  # type: ignore[arg-type]

    def catch_up(self) -> None:
        pass


def _everyone(index: PersonIndex, person: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    """`similar` as it was: each person known compared with the one at reception."""
    name, kana = _text(person.get("name")), _text(person.get("kana"))
    phone, address = _digits(person.get("phone")), _text(person.get("address"))
    year = (person.get("birth_date") or "")[:4]
    found = []
    for ref, known in index.folded.items():
        why = []
        if kana and year and kana == known["kana"] and known["birth_date"][:4] == year:
            why.append("ふりがなと生まれ年が同じ")
        if phone and len(phone) >= 6 and phone == known["phone"]:
            why.append("電話番号が同じ")
        if address and address == known["address"]:
            why.append("住所が同じ")
        if name and known["name"] and (name == known["name"] or (
                min(len(name), len(known["name"])) >= 2
                and SequenceMatcher(None, name, known["name"]).ratio() >= SIMILAR_NAME)):
            why.append("氏名が同じ" if name == known["name"] else "氏名が似ている")
        if why:
            found.append((index.people[ref], why))
    return sorted(found, key=lambda c: c[0]["person_ref"])


def _someone(rng: random.Random) -> dict[str, Any]:
    def maybe(value: str) -> str | None:
        return value if rng.random() < 0.8 else rng.choice([None, ""])

    return {"name": maybe("".join(rng.choices(LETTERS + " 　", k=rng.randint(1, 7)))),
            "kana": maybe("".join(rng.choices("ちょうふいろはチョウフ", k=rng.randint(1, 5)))),
            "birth_date": maybe(f"{rng.randint(1940, 1945)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"),
            "phone": maybe(rng.choice(["042-481-7111", "０４２４８１７１１１", "481-71", "7111", "090-1234-5678"])),
            "address": maybe(rng.choice(["調布市小島町2-35-1", "調布市小島町２－３５－１", "布田1-1", "国領町"]))}


def test_d2_reception_candidates_looked_up_are_those_of_comparing_with_everyone_known() -> None:
    """`similar` looks its candidates up (issue 19) where it compared the person at reception with everyone known:
    the same people with the same reasons, in the same order, also after erasures (a person erased is never offered)."""
    rng = random.Random(15)
    index = _Index()
    people = []
    for _ in range(1500):
        person = _someone(rng)
        registered = SimpleNamespace(originator_id=uuid4(), **{**person, "name": person["name"] or ""})
        index._add(registered)
        people.append(registered)
    for erased in rng.sample(people, 150):
        index._drop(str(erased.originator_id))
    assert len(index.folded) == 1350

    offered = 0
    for _ in range(200):
        person = _someone(rng)
        found = index.similar(person)
        assert found == _everyone(index, person), person
        offered += len(found)
    assert offered > 200  # (many candidates, of every kind)
    for erased in people[:50]:
        index._drop(str(erased.originator_id))
        assert str(erased.originator_id) not in {p["person_ref"] for p, _ in index.similar(
            {"name": erased.name, "kana": erased.kana, "birth_date": erased.birth_date, "phone": erased.phone,
             "address": erased.address})}
    assert not [ref for refs in index.by_name_char.values() for ref in refs if ref not in index.folded]


def test_d2_a_reception_compares_its_name_only_with_names_sharing_enough_characters(monkeypatch: Any) -> None:
    """Issue 19: `similar` went through every person known (difflib's bounds on each); now a name is compared only
    with the names its characters' index offers: one here, where the 2,000 others share at most 郎 or 子 with it."""
    from services.intake import people

    compared: list[tuple[str, str]] = []

    def alike(one: str, other: str) -> bool:
        compared.append((one, other))
        return _alike(one, other)

    monkeypatch.setattr(people, "_alike", alike)
    index = _Index()
    rng = random.Random(19)
    for _ in range(2000):
        index._add(SimpleNamespace(originator_id=uuid4(), name="".join(rng.choices("山田太郎花子", k=4)), kana="",
                                   birth_date=None, phone=None, address=None))
    index._add(SimpleNamespace(originator_id=uuid4(), name="調布一子", kana="", birth_date=None, phone=None, address=None))

    found = index.similar({"name": "調布一郎"})

    assert [why for _, why in found] == [["氏名が似ている"]]  # 調布一子: exactly 0.75
    assert compared == [("調布一郎", "調布一子")]


class _Pausing(dict):  # type: ignore[type-arg]
    """The index's folded fields, whose iteration stops after its first person until told to go on."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.iterating, self.go_on = threading.Event(), threading.Event()

    def items(self) -> Any:
        for i, pair in enumerate(super().items()):
            yield pair
            if i == 0:
                self.iterating.set()
                self.go_on.wait(5)


def test_d2_a_search_and_a_check_read_the_index_while_an_erasure_waits() -> None:
    """A search (氏名・ふりがな・電話での検索) or a same-person check at reception reads the index under its lock, as its
    catch-up writes it: an erasure applied by another request meanwhile waits, instead of changing the index under the
    read ("dictionary changed size during iteration": a 500) or dropping a person the read is about to show."""
    index = _Index()
    people = [SimpleNamespace(originator_id=uuid4(), name=f"調布{i}郎", kana="ちょうふ", birth_date="1950-01-01",
                              phone="0424817111", address="") for i in range(5)]
    for person in people:
        index._add(person)
    index.folded = _Pausing(index.folded)
    found: list[Any] = []
    reading = threading.Thread(target=lambda: found.append(index.search("調布", None, None, None)))
    reading.start()
    assert index.folded.iterating.wait(5)
    erasing = threading.Thread(target=lambda: (index.lock.acquire(), index._drop(str(people[3].originator_id)),
                                               index.lock.release()))  # as catch_up applies a Person.Erased
    erasing.start()
    erasing.join(0.3)
    assert erasing.is_alive()  # the erasure waits for the read
    index.folded.go_on.set()
    reading.join(5)
    erasing.join(5)
    assert len(found) == 1 and len(found[0]) == 5  # the read as it began, whole
    assert len(index.search("調布", None, None, None)) == 4  # and the erasure applied after it
