"""D14: the trend report. As agencies grow more capable the need for meetings falls; this shows it.

Counted from intake's own events, per counter and per fiscal quarter (年度 starts in April):
consultations received, connections (つなぎ), escalations, and cases discussed at a meeting.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from services.intake.domain import Case
from shared.organisation.reference import COUNTERS

MEASURES = ("consultations", "connections", "escalations", "meeting_cases")


def fiscal_quarter(at: datetime) -> tuple[int, int]:
    """(年度, 四半期): April–June is Q1 of the fiscal year that starts that April."""
    year = at.year if at.month >= 4 else at.year - 1
    return year, ((at.month - 4) % 12) // 3 + 1


#: the events D14 counts: the trend reads only these from the store (not the disclosures, notes and persons)
COUNTED = (Case.Received, Case.Connected, Case.Escalated, Case.MeetingNoted)
TOPICS = tuple(f"{kind.__module__}:{kind.__qualname__}" for kind in COUNTED)


class TrendCount:
    """D14's counts so far, kept between requests: `add` the events recorded since (`position`: the last store
    position added), then `rows`. The store only grows, so a count kept is never wrong, and a year of a city's
    events is read once, not on every visit to the trend page (its CSV, `GET /reports/trend`)."""

    def __init__(self) -> None:
        self.position = 0
        self.lock = threading.Lock()
        self.counter_of: dict[UUID, str] = {}
        self.counts: dict[tuple[str, int, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
        self.meeting_cases: set[tuple[str, int, int, UUID]] = set()

    def add(self, events: Iterable[Any]) -> TrendCount:
        for event in events:
            if isinstance(event, Case.Received):
                self.counter_of[event.originator_id] = event.counter
                measure = "consultations"
            elif isinstance(event, Case.Connected):
                measure = "connections"
            elif isinstance(event, Case.Escalated):
                measure = "escalations"
            elif isinstance(event, Case.MeetingNoted):
                measure = "meeting_cases"
            else:
                continue
            counter = self.counter_of.get(event.originator_id)
            if counter is None:
                continue
            key = (counter, *fiscal_quarter(event.timestamp))
            if measure == "meeting_cases":
                if (*key, event.originator_id) in self.meeting_cases:
                    continue  # a case counts once per quarter, however many decisions
                self.meeting_cases.add((*key, event.originator_id))
            self.counts[key][measure] += 1
        return self

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for (counter, year, quarter), measures in sorted(self.counts.items(),
                                                         key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
            info = COUNTERS.get(counter)
            rows.append({
                "counter": counter,
                "counter_ja": info.ja if info else counter,
                "fiscal_year": year,
                "quarter": quarter,
                "period_ja": f"{year}年度 第{quarter}四半期",
                **measures,
            })
        return rows


def trend_rows(events: Iterable[Any]) -> list[dict[str, Any]]:
    """D14's rows of these events, counted afresh."""
    return TrendCount().add(events).rows()
