"""Every record a program keeps reads in staff's words on the history pages (経過, 監査): each aggregate's kind and each
of its events has a label in shared/domain/labels.py; one without showed as 「その他の記録」 / 「記録」. Found when the
meeting gained HeldCase (60b12a8): five older events had none (主訴・相談概要 recorded, and recorded again on a
take-up; collaboration's return to intake; participation's 案内情報; community's council decision)."""

from __future__ import annotations

import importlib
import inspect

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate

from shared.domain.labels import EVENT_LABELS, KIND_LABELS, VALUE_LABELS, event_label, kind_label

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def aggregates() -> list[type[Aggregate]]:
    found = []
    for service in SERVICES:
        for module_name in (f"services.{service}.domain", f"services.{service}.held_cases"):
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            found += [c for c in vars(module).values()
                      if inspect.isclass(c) and issubclass(c, Aggregate) and c.__module__ == module.__name__]
    return found


def test_every_aggregate_of_the_six_programs_is_found() -> None:
    names = {a.__name__ for a in aggregates()}
    assert {"Case", "CollaborationCase", "PlanReview", "HeldCase", "Engagement", "Support", "Place"} <= names, names


@pytest.mark.parametrize("aggregate", aggregates(), ids=lambda a: a.__name__)
def test_every_record_and_its_events_read_in_staff_words(aggregate: type[Aggregate]) -> None:
    assert aggregate.__name__ in KIND_LABELS, aggregate.__name__
    events = [name for name, value in vars(aggregate).items()
              if inspect.isclass(value) and issubclass(value, CanMutateAggregate)
              and name not in ("Event", "Created")]  # the library's base and default classes, never stored by name
    unlabelled = [f"{aggregate.__name__}.{name}" for name in events if f"{aggregate.__name__}.{name}" not in EVENT_LABELS]
    assert unlabelled == []


def test_the_meetings_record_of_a_held_case_reads_in_staff_words() -> None:
    assert event_label("HeldCase.Announced") == "担当開始の受領（多機関協働・アウトリーチ・参加支援）"
    assert kind_label("HeldCase") == "担当している事業"
    assert VALUE_LABELS["catch_up"] == "更新時の読み込み"
