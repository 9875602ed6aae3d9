"""An event's divisions for a recorded event's meta (D15's division scope; shared/kernel/app.py `divisions_upstream`)
are remembered (issue 19: divisions_named's look-ups were ~7 % of a recording delivery's inbox thread) and are the
same as worked out afresh: for every payload, under either municipality, after a municipality file is reloaded."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import BaseModel
from support.deliveries import decided

import shared.kernel.app as kernel_app
from shared.contract.events import Actor, Envelope
from shared.kernel.app import divisions_upstream
from shared.organisation import reference
from shared.organisation.municipality import DATA, load
from shared.organisation.reference import DIVISIONS, agencies, in_force
from shared.organisation.scope import divisions_named

FILES = [DATA / "chofu.toml", DATA / "kakushi.toml"]


def afresh(envelope: Envelope, payload: BaseModel) -> list[str]:
    """divisions_upstream as it was before the cache (a30ac4f): the reference."""
    return sorted(divisions_named({"actor": envelope.actor.model_dump(), "fields": payload.model_dump(mode="json")}))


class Role(BaseModel):
    agency: str
    role: str = "支援"


class Payload(BaseModel):
    """Every field divisions_named reads, beside one it does not."""

    division: str | None = None
    primary_agency: str | None = None
    to_agency: str | None = None
    attendees: list[str] = []
    roles: list[Role] = []
    member_divisions: list[str] = []
    note: str = ""


@pytest.fixture(autouse=True)
def forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_app, "_named", {})


def _names() -> list[str | None]:
    names: set[str] = set()
    for path in FILES:
        with in_force(path):
            names |= agencies() | set(DIVISIONS)
    return sorted(names) + ["架空の機関", "", "counter:nothing", None]


def _events(rng: random.Random, count: int) -> list[tuple[Envelope, BaseModel]]:
    names = _names()
    codes = [n for n in names if n and n.isascii()] + ["nowhere", ""]
    base, _ = decided(1, connect_to=[])
    events: list[tuple[Envelope, BaseModel]] = []
    for number in range(count):
        payload = Payload(division=rng.choice(codes + [None]), primary_agency=rng.choice(names),
                          to_agency=rng.choice(names),
                          attendees=[n for n in rng.sample(names, rng.randint(0, 4)) if n is not None],
                          roles=[Role(agency=n) for n in rng.sample(names, rng.randint(0, 3)) if n is not None],
                          member_divisions=[c for c in rng.sample(codes, rng.randint(0, 3))], note=f"n{number}")
        actor = Actor(staff_id="s-1", division=rng.choice(codes + [None]), service=rng.choice([None, "meeting"]))
        events.append((base.model_copy(update={"actor": actor}), payload))
    return events


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_d15_the_remembered_divisions_are_those_worked_out_afresh(path: Any) -> None:
    rng = random.Random(19)
    events = _events(rng, 400)
    events += [rng.choice(events) for _ in range(400)]  # the same events again: answered from what was remembered
    events.append(decided(2, connect_to=["outreach"]))  # a real MeetingDecided
    with in_force(path):
        for envelope, payload in events:
            assert divisions_upstream(envelope, payload) == afresh(envelope, payload), (envelope.actor, payload)
    assert 0 < len(kernel_app._named) <= 401  # remembered, once per different event


def _telling_apart() -> tuple[Envelope, BaseModel]:
    """An event the two municipalities answer differently."""
    for envelope, payload in _events(random.Random(7), 400):
        answers = []
        for path in FILES:
            with in_force(path):
                answers.append(afresh(envelope, payload))
        if answers[0] != answers[1]:
            return envelope, payload
    raise AssertionError("no event the two municipality files tell apart")


def test_d15_another_tenants_municipality_is_never_answered_from_this_ones() -> None:
    envelope, payload = _telling_apart()
    for _ in range(2):
        for path in FILES:
            with in_force(path):
                assert divisions_upstream(envelope, payload) == afresh(envelope, payload)


def test_d15_a_reloaded_municipality_file_is_answered_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    envelope, payload = _telling_apart()
    chofu, kakushi = FILES
    with in_force(chofu):
        before = divisions_upstream(envelope, payload)
        assert before == afresh(envelope, payload)
        monkeypatch.setitem(reference._loaded, chofu.resolve(), load(kakushi))  # the file at the same path changed
        after = divisions_upstream(envelope, payload)
    with in_force(kakushi):
        assert after == afresh(envelope, payload) != before


def test_d15_at_most_so_many_answers_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_app, "_NAMED_AT_MOST", 50)
    for envelope, payload in _events(random.Random(3), 300):
        assert divisions_upstream(envelope, payload) == afresh(envelope, payload)
        assert len(kernel_app._named) <= 50


@pytest.mark.parametrize("field", ["actor", "division", "primary_agency", "to_agency", "attendees", "roles",
                                   "member_divisions"])
def test_d15_events_differing_in_one_read_field_only_are_answered_apart(field: str) -> None:
    """Each field divisions_named reads is in what the answer is remembered by (an event that differs only there is
    not answered from the other's)."""
    names = [n for n in _names() if n]
    codes = sorted(DIVISIONS) + ["nowhere"]
    envelope, _ = decided(1, connect_to=[])
    payload = Payload(primary_agency=names[0], note="same")
    with in_force(FILES[0]):
        for value in (codes if field in ("actor", "division", "member_divisions") else names):
            if field == "actor":
                event = (envelope.model_copy(update={"actor": Actor(division=value)}), payload)
            else:
                shaped = {"attendees": [value], "roles": [Role(agency=value)], "member_divisions": [value]}
                event = (envelope, payload.model_copy(update={field: shaped.get(field, value)}))
            assert divisions_upstream(*event) == afresh(*event), (field, value)
