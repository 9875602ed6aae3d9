"""The city's figures (事業目標・評価指標, issue 16): counts of the year's work, from the events.

Pure: no store, no HTTP. A service turns each stored event into a `Fact` (its public event type, or
for a few private events their codes only) and `program_figures` counts them for a fiscal year; the
city-wide door merges the six services' answers with `merge` and sets the year's `targets` beside them.

- The fiscal year (年度) runs from 1 April to 31 March, Japan time: 2026年度 (令和8年度) is 2026-04-01 ..
  2027-03-31; its quarters are 4–6月 (Q1), 7–9月 (Q2), 10–12月 (Q3), 1–3月 (Q4).
- A fact's day is the day the thing happened (a consultation's 相談日, a sitting's 開催日: also for what the
  sitting decided or evaluated), else the day it was recorded, in Japan time: any past year can be counted again
  from the store.
- Small cells (D9, no person recognisable from a count): a count of 1 or 2 is shown as 「3未満」 (0
  stays 0), in every answer, page and export; where a row or column adds up to a total, the cells that
  would let one work a small count out by subtraction are shown as 「秘匿」 (`hidden_cells`). Cells are
  suppressed where they are counted, so a suppressed count never leaves the service that counted it.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.domain.labels import MEETING_TYPE_LABELS, PROGRAM_LABELS
from shared.domain.wareki import JST
from shared.organisation.reference import COUNTERS, PROGRAMS, RESOURCE_KINDS

SMALL = "3未満"
SECRET = "秘匿"  # a count hidden so that a small one beside it cannot be worked out from the total
THRESHOLD = 3
QUARTERS = (1, 2, 3, 4)
QUARTER_LABELS = {1: "第1四半期（4〜6月）", 2: "第2四半期（7〜9月）", 3: "第3四半期（10〜12月）",
                  4: "第4四半期（1〜3月）"}
TOTAL = ""  # the key of an indicator's row over all its keys (合計)

#: The private events a service counts, and the codes it takes from each (never a text, never a person).
PRIVATE_FIELDS: dict[str, tuple[str, ...]] = {
    "Meeting.Convened": ("meeting_type", "held_on"),
    "Engagement.ContactRecorded": ("method", "reached"),
    "Case.Received": ("consulted_on",),
    # 地域づくり (issue 16): places, sessions and groups stay in community's store
    "Place.Registered": ("program", "ibasho", "opened_on"),
    "Place.Closed": ("closed_on",),
    "ActivitySession.Recorded": ("held_on", "program", "participants", "new_participants", "volunteers",
                                 "organisations"),
    "SelfHelpGroup.Formed": ("program", "formed_on"),
}
#: The field that holds the day a thing happened, where it differs from when it was recorded.
DAY_FIELDS = ("consulted_on", "held_on", "formed_on", "opened_on", "closed_on")
#: A sitting (its 開催日 among its codes) and its events: what a sitting decided, evaluated, resumed or named
#: (MeetingDecided, PlanClosed…, ResourceGapIdentified) happened on the day it sat, however late its minutes were
#: recorded (a sitting of 3月31日 recorded on 4月1日 counts in the year it sat, as its 開催回数 and 扱った事例数 do).
SITTING = "Meeting.Convened"
SITTING_EVENTS = "Meeting."


@dataclass(frozen=True)
class Fact:
    """One stored event as the figures see it: its name (`Aggregate.Event`), its public event type if it
    has one, the moment it was recorded, its case and aggregate, and its codes (the public payload and
    the `PRIVATE_FIELDS` of its name)."""

    service: str
    name: str
    recorded_at: datetime
    public: str | None = None
    case_id: str | None = None
    aggregate_id: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    def day(self) -> date:
        """The day it happened in Japan: the event's own day field, else the recording's day in JST."""
        for name in DAY_FIELDS:
            value = self.fields.get(name)
            if isinstance(value, date) and not isinstance(value, datetime):
                return value
            if isinstance(value, str) and len(value) >= 10:
                try:
                    return date.fromisoformat(value[:10])
                except ValueError:
                    continue
        moment = self.recorded_at if self.recorded_at.tzinfo else self.recorded_at.replace(tzinfo=JST)
        return moment.astimezone(JST).date()


# -- the fiscal year -----------------------------------------------------------------------------------


def fiscal_year_of(day: date) -> int:
    """The fiscal year (年度) a day belongs to: April to March (2027-03-31 → 2026)."""
    return day.year if day.month >= 4 else day.year - 1


def quarter_of(day: date) -> int:
    """The quarter of its fiscal year: 1 (4–6月), 2 (7–9月), 3 (10–12月), 4 (1–3月)."""
    return (day.month - 4) % 12 // 3 + 1


def fiscal_year_bounds(fy: int) -> tuple[date, date]:
    """The first and last day of fiscal year `fy`."""
    return date(fy, 4, 1), date(fy + 1, 3, 31)


def quarter_bounds(fy: int, quarter: int) -> tuple[date, date]:
    """The first and last day of a quarter of fiscal year `fy`."""
    month = 4 + 3 * (quarter - 1)
    year = fy + (month - 1) // 12
    month = (month - 1) % 12 + 1
    first = date(year, month, 1)
    after = date(year + (month + 2) // 12, (month + 2) % 12 + 1, 1)
    return first, date.fromordinal(after.toordinal() - 1)


def fiscal_year_label(fy: int) -> str:
    """2026 → 令和8年度（2026年度）; before 令和 (2019) as 平成."""
    era = f"令和{'元' if fy == 2019 else fy - 2018}" if fy >= 2019 else f"平成{fy - 1988}"
    return f"{era}年度（{fy}年度）"


# -- what is counted ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    """One figure of the plan (評価指標): which events it counts, by which key, and how.

    `how`: "events" counts the events; "cases" the distinct cases (実人数, one per person's case);
    "distinct" the distinct values of `distinct_field` (e.g. cooperating providers)."""

    code: str
    ja: str
    section: str  # the 事業 it belongs to (包括的相談支援事業…)
    service: str
    events: tuple[str, ...]
    key: str = ""  # the field (or "counter": the case's receiving counter) rows are split by; "" none
    how: str = "events"
    distinct_field: str = ""
    unit: str = "件"
    only: tuple[tuple[str, Any], ...] = ()  # the events counted must have these field values


SECTIONS = ("包括的相談支援事業", "多機関協働事業", "重層的支援会議・支援会議", "アウトリーチ等を通じた継続的支援事業",
            "参加支援事業", "地域づくり事業")
PLAN_SERVICES = ("collaboration", "outreach", "participation")
COMMUNITY_SESSION = ("ActivitySession.Recorded",)

INDICATORS: tuple[Indicator, ...] = (
    Indicator("consultations", "相談受付件数", SECTIONS[0], "intake", ("ConsultationReceived",), key="counter"),
    Indicator("consultation_persons", "相談実人数", SECTIONS[0], "intake", ("ConsultationReceived",),
              key="counter", how="distinct", distinct_field="person_ref", unit="人"),
    Indicator("connections", "つなぎ件数（関係機関へ）", SECTIONS[0], "intake", ("CaseConnected",), key="counter"),
    Indicator("escalations", "多機関協働事業への移行件数", SECTIONS[0], "intake", ("CaseEscalated",), key="counter"),
    Indicator("intake_closed", "対応終了件数", SECTIONS[0], "intake", ("IntakeCaseClosed",), key="outcome"),
    *(Indicator(f"plans_made_{s}", "支援プラン作成件数", SECTIONS[1] if s == "collaboration" else
                SECTIONS[3] if s == "outreach" else SECTIONS[4], s, ("PlanProposed",), key="program",
                only=(("revision", 1),)) for s in PLAN_SERVICES),
    Indicator("collaboration_cases", "多機関協働の受理件数", SECTIONS[1], "collaboration", ("CollaborationStarted",)),
    Indicator("meetings_held", "会議開催回数", SECTIONS[2], "meeting", ("Meeting.Convened",), key="meeting_type",
              unit="回"),
    Indicator("cases_discussed", "会議で扱った事例数", SECTIONS[2], "meeting", ("MeetingCaseTakenUp",),
              key="meeting_type", how="cases"),
    Indicator("plans_approved", "プラン承認件数", SECTIONS[2], "meeting", ("MeetingDecided",), key="program",
              only=(("decision", "approved"),)),
    Indicator("plans_closed", "プラン終結件数", SECTIONS[2], "meeting", ("PlanClosed",), key="program"),
    Indicator("plans_suspended", "プラン中断件数", SECTIONS[2], "meeting", ("PlanSuspended",), key="program"),
    Indicator("plans_continued", "プラン継続件数", SECTIONS[2], "meeting", ("PlanContinued",), key="program"),
    Indicator("gaps_identified", "社会資源の不足（課題）の把握件数", SECTIONS[2], "meeting", ("ResourceGapIdentified",)),
    Indicator("outreach_persons", "アウトリーチ支援実人数", SECTIONS[3], "outreach",
              ("OutreachStarted", "Engagement.ContactRecorded"), how="cases", unit="人"),
    Indicator("outreach_contacts", "アウトリーチ接触回数（延べ）", SECTIONS[3], "outreach",
              ("Engagement.ContactRecorded",), key="method", unit="回"),
    Indicator("outreach_handed_over", "アウトリーチからの引継ぎ件数", SECTIONS[3], "outreach", ("OutreachHandedOver",),
              key="to_program"),
    Indicator("participation_persons", "参加支援実人数", SECTIONS[4], "participation",
              ("ParticipationStarted", "ResourceMatched", "PlacementStarted", "PlacementReviewed"), how="cases",
              unit="人"),
    Indicator("participation_matched", "社会資源とのマッチング件数", SECTIONS[4], "participation",
              ("ResourceMatched",), key="resource_kind"),
    Indicator("participation_providers", "協力事業者・社会資源数（マッチング先）", SECTIONS[4], "participation",
              ("ResourceMatched",), how="distinct", distinct_field="provider_or_resource", unit="か所"),
    Indicator("participation_placements", "参加開始件数", SECTIONS[4], "participation", ("PlacementStarted",)),
    Indicator("shortages_reported", "不足する社会資源の報告件数", SECTIONS[4], "participation",
              ("ResourceShortageReported",)),
    Indicator("community_places", "拠点数（開設中）", SECTIONS[5], "community", ("Place.Registered", "Place.Closed"),
              key="program", how="open", unit="か所"),
    Indicator("community_new_places", "新たに開設した拠点数", SECTIONS[5], "community", ("Place.Registered",),
              key="program", unit="か所"),
    Indicator("community_ibasho", "うち居場所（新規）", SECTIONS[5], "community", ("Place.Registered",),
              key="program", unit="か所", only=(("ibasho", True),)),
    Indicator("community_sessions", "地域づくり活動の開催回数", SECTIONS[5], "community", COMMUNITY_SESSION,
              key="program", unit="回"),
    Indicator("community_participants", "地域づくり活動の参加者数（延べ）", SECTIONS[5], "community",
              COMMUNITY_SESSION, key="program", how="sum", distinct_field="participants", unit="人"),
    Indicator("community_new_participants", "うち新規参加者数", SECTIONS[5], "community",
              COMMUNITY_SESSION, key="program", how="sum", distinct_field="new_participants", unit="人"),
    Indicator("community_volunteers", "ボランティア数（延べ）", SECTIONS[5], "community",
              COMMUNITY_SESSION, key="program", how="sum", distinct_field="volunteers", unit="人"),
    Indicator("community_organisations", "参加団体数（実数）", SECTIONS[5], "community",
              COMMUNITY_SESSION, key="program", how="distinct_list", distinct_field="organisations", unit="団体"),
    Indicator("community_groups", "自主グループの立上げ数", SECTIONS[5], "community", ("SelfHelpGroup.Formed",),
              key="program"),
    Indicator("resources_developed", "新たな社会資源の開発数", SECTIONS[5], "community", ("ResourceDeveloped",),
              key="kind", unit="件"),
    Indicator("regional_issues", "地域課題の把握件数", SECTIONS[5], "community", ("RegionalIssueOpened",)),
    Indicator("initiatives", "地域課題への取組開始件数", SECTIONS[5], "community", ("InitiativeStarted",)),
)
BY_CODE = {i.code: i for i in INDICATORS}
#: the fields of an event the counting reads (a service keeps no other: no text, no goal, no reason)
FIELDS_USED = frozenset(
    {i.key for i in INDICATORS if i.key} | {i.distinct_field for i in INDICATORS if i.distinct_field}
    | {k for i in INDICATORS for k, _ in i.only} | set(DAY_FIELDS)
    | {"counter", "person_ref", "provider", "resource_id"}
)

#: intake's closing outcomes (services/intake/domain.py CLOSING_OUTCOMES; shared/ reads no service).
OUTCOME_LABELS = {"resolved": "解決", "handed_over": "他機関へ引継ぎ", "person_ended": "本人の意思で終了",
                  "moved": "転居", "died": "死亡", "unreachable": "連絡不能"}


def key_label(indicator: Indicator, key: str) -> str:
    """A row's key as staff read it (a counter's or program's name, a meeting type…); 合計 for the total."""
    if key == TOTAL:
        return "合計"
    if indicator.key == "counter":
        counter = COUNTERS.get(key)
        return counter.ja if counter else key
    if indicator.key in ("program", "to_program"):
        program = PROGRAMS.get(key)
        return PROGRAM_LABELS.get(key) or (program.ja if program else key)
    if indicator.key == "meeting_type":
        return MEETING_TYPE_LABELS.get(key, key)
    if indicator.key in ("resource_kind", "kind"):
        kind = RESOURCE_KINDS.get(key)
        return kind.ja if kind else key
    if indicator.key == "outcome":
        return OUTCOME_LABELS.get(key, key)
    return key


# -- counting -------------------------------------------------------------------------------------------


def shown(value: int) -> str:
    """A count as it may be shown: 1 and 2 as 「3未満」, everything else as the number."""
    return SMALL if 0 < value < THRESHOLD else str(value)


def suppressed(value: int) -> int | None:
    """A count as it may leave the service: None (shown 「3未満」) for 1 and 2."""
    return None if 0 < value < THRESHOLD else value


def _matches(indicator: Indicator, fact: Fact) -> bool:
    return (fact.name in indicator.events or fact.public in indicator.events) and all(fact.fields.get(k) == v for k, v in indicator.only)


def _key_of(indicator: Indicator, fact: Fact, counters: dict[str, str]) -> str:
    if not indicator.key:
        return TOTAL
    if indicator.key == "counter":
        return str(fact.fields.get("counter") or counters.get(fact.case_id or "", "") or "不明")
    value = fact.fields.get(indicator.key)
    return str(value) if value not in (None, "") else "不明"


def _measure(indicator: Indicator, facts: list[Fact]) -> int:
    if indicator.how == "cases":
        return len({f.case_id for f in facts})
    if indicator.how == "distinct":
        if indicator.distinct_field == "provider_or_resource":
            return len({f.fields.get("provider") or f.fields.get("resource_id") for f in facts})
        return len({f.fields.get(indicator.distinct_field) for f in facts})
    if indicator.how == "distinct_list":
        return len({name for f in facts for name in (f.fields.get(indicator.distinct_field) or [])})
    if indicator.how == "sum":
        total = 0
        for f in facts:
            value = f.fields.get(indicator.distinct_field)
            if isinstance(value, list):
                total += len(value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                total += int(value)
        return total
    return len(facts)


def _row(indicator: Indicator, by_quarter: dict[int, list[Fact]]) -> list[int]:
    """Q1..Q4 and the year, as counted."""
    values = [_measure(indicator, by_quarter.get(q, [])) for q in QUARTERS]
    return [*values, _measure(indicator, [f for q in QUARTERS for f in by_quarter.get(q, [])])]


def hidden_cells(grid: list[list[int]]) -> set[tuple[int, int]]:
    """The cells not to show: each 1 or 2 (「3未満」), and, where a count is the sum of others (the last row
    is the total of the rows above it, the last column the sum of the quarters), as many more as keep
    any of them from being worked out by subtraction (secondary suppression): in every such sum whose
    one cell is hidden, the smallest other non-zero cell is hidden too (「秘匿」)."""
    hidden = {(r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if 0 < v < THRESHOLD}
    rows, columns = len(grid), len(grid[0]) if grid else 0
    sums = [[(r, c) for r in range(rows)] for c in range(columns)] if rows > 2 else []  # keys + total, per column
    sums += [[(r, c) for c in range(columns)] for r in range(rows)]  # quarters + year, per row
    changed = True
    while changed:
        changed = False
        for cells in sums:
            if sum(cell in hidden for cell in cells) != 1:
                continue
            others = [cell for cell in cells if cell not in hidden and grid[cell[0]][cell[1]] > 0]
            if others:
                hidden.add(min(others, key=lambda cell: (grid[cell[0]][cell[1]], cell)))
                changed = True
    return hidden


def _rows_out(indicator: Indicator, keyed: list[tuple[str, list[int]]]) -> list[dict[str, Any]]:
    """The rows as they may be shown: small cells, and those that would give them away, hidden."""
    grid = [values for _, values in keyed]
    hidden = hidden_cells(grid) if indicator.how in ("events", "sum") else {
        (r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if 0 < v < THRESHOLD}
    rows = []
    for r, (key, values) in enumerate(keyed):
        out = [None if (r, c) in hidden else v for c, v in enumerate(values)]
        text = [(SMALL if 0 < v < THRESHOLD else SECRET) if (r, c) in hidden else str(v) for c, v in enumerate(values)]
        rows.append({"key": key, "key_label": key_label(indicator, key), "quarters": out[:4], "year": out[4],
                     "quarters_shown": text[:4], "year_shown": text[4]})
    return rows


def program_figures(facts: Iterable[Fact], fy: int, service: str) -> list[dict[str, Any]]:
    """This service's indicators for fiscal year `fy`: per key and quarter, and the total, suppressed."""
    first, last = fiscal_year_bounds(fy)
    facts = list(facts)
    counters = {f.case_id: str(f.fields.get("counter")) for f in facts
                if f.public == "ConsultationReceived" and f.case_id and f.fields.get("counter")}
    sittings = {f.aggregate_id: f.day() for f in facts if f.name == SITTING}
    day = {id(f): sittings.get(f.aggregate_id, f.day()) if f.name.startswith(SITTING_EVENTS) else f.day() for f in facts}
    in_year = [f for f in facts if first <= day[id(f)] <= last]
    answer = []
    for indicator in INDICATORS:
        if indicator.service != service:
            continue
        if indicator.how == "open":
            answer.append(_open_places(indicator, facts, fy, service))
            continue
        grouped: dict[str, dict[int, list[Fact]]] = {}
        total: dict[int, list[Fact]] = {}
        for fact in in_year:
            if not _matches(indicator, fact):
                continue
            quarter = quarter_of(day[id(fact)])
            grouped.setdefault(_key_of(indicator, fact, counters), {}).setdefault(quarter, []).append(fact)
            total.setdefault(quarter, []).append(fact)
        keyed = [(key, _row(indicator, grouped[key])) for key in sorted(grouped)] if indicator.key else []
        keyed.append((TOTAL, _row(indicator, total)))
        rows = _rows_out(indicator, keyed)
        answer.append({"code": indicator.code, "label": indicator.ja, "section": indicator.section,
                       "service": service, "unit": indicator.unit, "rows": rows})
    return answer


def _open_places(indicator: Indicator, facts: list[Fact], fy: int, service: str) -> dict[str, Any]:
    """Places open at some time in each quarter (and in the year): opened by its end, not closed before its start."""
    closed = {f.aggregate_id: f.day() for f in facts if f.name == "Place.Closed"}
    opened = [(f.day(), closed.get(f.aggregate_id), _key_of(indicator, f, {}), f.aggregate_id)
              for f in facts if f.name == "Place.Registered"]
    periods = [quarter_bounds(fy, q) for q in QUARTERS] + [fiscal_year_bounds(fy)]

    def count(key: str | None) -> list[int]:
        return [len({a for start, end, k, a in opened if (key is None or k == key) and start <= last
                     and (end is None or end >= first)}) for first, last in periods]

    keys = sorted({k for *_, k, _ in opened})
    keyed = [(k, v) for k in keys if any(v := count(k))]
    rows = _rows_out(indicator, [*keyed, (TOTAL, count(None))])
    return {"code": indicator.code, "label": indicator.ja, "section": indicator.section, "service": service,
            "unit": indicator.unit, "rows": rows}


# -- the city-wide document -----------------------------------------------------------------------------


def read_targets(text: str) -> dict[int, dict[str, dict[str, int]]]:
    """The city's targets from TOML: `[fy2026]` with `indicator = N` (the year's total) or a table
    `[fy2026.indicator]` with `total = N` and per-key targets (`jusou_shien_kaigi = 12`).
    Raises ValueError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"目標ファイルを読めません / the targets file is not TOML: {exc}") from None
    targets: dict[int, dict[str, dict[str, int]]] = {}
    for year_name, table in data.items():
        digits = year_name.removeprefix("fy").removeprefix("FY")
        if not digits.isdigit() or not isinstance(table, dict):
            raise ValueError(f"目標ファイルの表 [{year_name}] は [fy2026] の形で書いてください / "
                             "each table is a fiscal year, e.g. [fy2026]")
        year: dict[str, dict[str, int]] = {}
        for code, value in table.items():
            if code not in BY_CODE:
                raise ValueError(f"目標ファイル [{year_name}] の {code} は指標ではありません（{', '.join(BY_CODE)}）"
                                 " / not an indicator")
            per_key = value if isinstance(value, dict) else {"total": value}
            for key, number in per_key.items():
                if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                    raise ValueError(f"目標ファイル [{year_name}] {code}.{key} は0以上の整数です / a target is a count")
            year[code] = {(TOTAL if k == "total" else k): int(v) for k, v in per_key.items()}
        targets[int(digits)] = year
    return targets


def merge(fy: int, answers: Iterable[dict[str, Any]], targets: dict[str, dict[str, int]],
          missing: list[str]) -> dict[str, Any]:
    """The city's figures for the year: every service's indicators in the plan's order, targets beside."""
    found = {i["code"]: i for i in answers}
    first, last = fiscal_year_bounds(fy)
    indicators = []
    for indicator in INDICATORS:
        entry = found.get(indicator.code)
        if entry is None:
            continue
        wanted = targets.get(indicator.code, {})
        rows = [{**row, "target": wanted.get(row["key"])} for row in entry["rows"]]
        indicators.append({**entry, "rows": rows})
    return {"fy": fy, "label": fiscal_year_label(fy), "from": first.isoformat(), "to": last.isoformat(),
            "quarters": [QUARTER_LABELS[q] for q in QUARTERS], "missing": missing, "small": SMALL,
            "indicators": indicators}


NOTE = (f"※ 個人が特定されないよう、1〜2件は「{SMALL}」、合計との差から「{SMALL}」の件数が分かってしまう欄は"
        f"「{SECRET}」と表示しています / counts of 1 or 2 are shown as {SMALL}; cells that would give one away by "
        f"subtraction as {SECRET}")
CSV_HEADER = ("事業", "指標", "内訳", "単位", "第1四半期（4〜6月）", "第2四半期（7〜9月）", "第3四半期（10〜12月）",
              "第4四半期（1〜3月）", "年度計", "目標", "達成率（%）")


def table_rows(document: dict[str, Any]) -> list[list[str]]:
    """The document as rows of text, header first (CSV and xlsx): small cells as 「3未満」."""
    rows = [list(CSV_HEADER)]
    for indicator in document["indicators"]:
        for row in indicator["rows"]:
            target = row.get("target")
            rate = ""
            if target and row["year"] is not None:
                rate = f"{row['year'] * 100 / target:.1f}"
            rows.append([indicator["section"], indicator["label"], row["key_label"], indicator["unit"],
                         *row["quarters_shown"], row["year_shown"], "" if target is None else str(target), rate])
    return rows


def render_csv(document: dict[str, Any]) -> str:
    """The figures as CSV for Excel: UTF-8 with a BOM, Japanese headers, CRLF."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{document['label']} 重層的支援体制整備事業 実績（{document['from']}〜{document['to']}）"])
    for row in table_rows(document):
        writer.writerow(row)
    if document.get("missing"):
        writer.writerow([f"未集計（応答なし）: {', '.join(document['missing'])}"])
    writer.writerow([NOTE])
    return out.getvalue()


def render_text(document: dict[str, Any]) -> str:
    """The figures as plain text (the terminal): one line per row."""
    lines = [f"{document['label']} 重層的支援体制整備事業 実績 {document['from']}〜{document['to']}"]
    section = ""
    rows = table_rows(document)[1:]
    first = {name: n for n, name in reversed(list(enumerate(row[0] for row in rows)))}
    for row in sorted(rows, key=lambda row: first[row[0]]):  # each program's indicators under one heading
        if row[0] != section:
            section = row[0]
            lines.append(f"\n■ {section}")
        target = f"  目標 {row[9]}" + (f"（{row[10]}%）" if row[10] else "") if row[9] else ""
        unit = row[3] if row[8].isdigit() else ""
        lines.append(f"  {row[1]} / {row[2]}: Q1 {row[4]}  Q2 {row[5]}  Q3 {row[6]}  Q4 {row[7]}  年度計 {row[8]}{unit}"
                     f"{target}")
    if document.get("missing"):
        lines.append(f"\n未集計（応答なし）/ not answering: {', '.join(document['missing'])}")
    lines.append(NOTE)
    return "\n".join(lines)
