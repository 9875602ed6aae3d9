"""`isinstance` against eventsourcing's runtime-checkable protocols answers as Python 3.11's typing does, without
collecting the protocol's members on every call (shared/kernel/library.py `remembered_protocol_members`, issue 19)."""

from __future__ import annotations

import sys
import typing
from abc import ABCMeta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate, CanMutateProtocol, CollectEventsProtocol, DomainEventProtocol

import shared.kernel.library  # noqa: F401 - installs the check, as every service does (shared/kernel/journey.py)

PROTOCOLS = (CanMutateProtocol, DomainEventProtocol, CollectEventsProtocol)
pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 keeps a protocol's members itself")


class Thing(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name


class Bare:
    pass


class MethodsSetToNone:
    originator_id = uuid4()
    originator_version = 1
    mutate = None
    collect_events = None


class Registered:
    """A virtual subclass: typing's check ends with ABCMeta's, which knows registered classes."""


def _samples() -> list[Any]:
    thing = Thing(name="x")
    [created] = thing.collect_events()
    DomainEventProtocol.register(Registered)
    return [thing, created, Bare(), MethodsSetToNone(), Registered(), 3, None, "text"]


def test_the_library_protocols_answer_as_typing_does() -> None:
    original = typing._ProtocolMeta.__instancecheck__  # type: ignore[attr-defined]
    for protocol in PROTOCOLS:
        assert type(protocol) is not typing._ProtocolMeta  # type: ignore[attr-defined]  # ours is installed
        for sample in _samples():
            assert isinstance(sample, protocol) == original(protocol, sample), (protocol.__name__, sample)


def test_an_event_and_an_aggregate_are_told_apart_as_the_library_expects() -> None:
    thing = Thing(name="x")
    [created] = thing.collect_events()
    assert isinstance(created, CanMutateProtocol) and isinstance(created, DomainEventProtocol)
    assert not isinstance(thing, DomainEventProtocol) and isinstance(thing, CollectEventsProtocol)
    assert not isinstance(Bare(), CanMutateProtocol) and not isinstance(Bare(), CollectEventsProtocol)
    assert isinstance(Registered(), DomainEventProtocol) == ABCMeta.__instancecheck__(DomainEventProtocol, Registered())


def test_the_members_are_not_collected_again_on_each_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    collect = typing._get_protocol_attrs  # type: ignore[attr-defined]
    monkeypatch.setattr(typing, "_get_protocol_attrs", lambda cls: calls.append(cls) or collect(cls))
    thing = Thing(name="x")
    [created] = thing.collect_events()
    for _ in range(100):
        assert isinstance(created, CanMutateProtocol)
        assert not isinstance(thing, DomainEventProtocol)
        assert isinstance(thing, CollectEventsProtocol)
    assert calls == []
