"""保存年限 (retention, issue 17): which records of each program are past their retention period.

A record kind per program, with a period in whole years counted from the day the record was completed
(完結). The periods are configuration (a TOML `[retention]` table, `read_periods`); the defaults below are
five years, the common period of a welfare consultation's records (相談・支援記録) under a city's document
rules. Each kind's `basis` names where its period comes from; the city's 文書主管課 confirms them and sets
its own in the file.

Only intake keeps a person's own information under a key of that person (services/intake/keys.py); the
other programs refer to a case by its id. So a record past its period is listed in the program that keeps
it, and what erasure at expiry erases is the person (crypto-shredding at intake, recorded as
`Person.Erased` with the basis `retention_expired` 保存期間満了): once every record of every program about
the person's cases is completed and the person's own period has passed since the last of them.

Pure: the store's events come in as `Step`s (shared/web/retention_api.py and `jusou retention` read them),
and the rules below fold them into `Record`s.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

#: the erasure basis an erasure at expiry records (services/intake/api.py ErasureIn; shared/domain/audit.py)
BASIS = "retention_expired"
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
_LAW = ("個人情報の保護に関する法律 第61条（保有は利用目的の達成に必要な範囲に限る）と、公文書等の管理に関する法律 第34条に"
        "基づく市の文書管理規則の保存期間基準（相談・支援の記録は完結後5年が一般的）")


@dataclass(frozen=True)
class Kind:
    """A record kind: the program that keeps it, its name, its default period (years) and where that comes from."""

    code: str
    service: str
    ja: str
    years: int
    basis: str
    counted_from: str
    #: what the erasure of the person at intake does to this record (shown beside it on the page)
    after_erasure: str = ""


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("case", "intake", "相談記録（包括的相談支援のケース）", 5, _LAW,
         "対応終了、またはプランの終結の日", "相談者の消去で、氏名・主訴・相談概要・経過記録が読めなくなります"),
    Kind("person", "intake", "相談者の個人情報（氏名・生年月日・住所・電話・主訴・経過記録）", 5,
         _LAW + "。記録が残る間は本人の確認に要るため、その人のすべての記録（全事業）が完結した日から数える",
         "その人のケースに関わる全事業の記録のうち、最後に完結した日", "この行の「消去へ進む」で消去します"),
    Kind("collaboration_case", "collaboration", "多機関協働の記録（ケース・課題の整理・支援プラン・経過記録）", 5, _LAW,
         "プランの終結、または包括的相談支援へ戻した日",
         "ケース番号で相談者を指す記録です。相談者の消去で氏名等は読めなくなりますが、ここの経過記録の文章は残ります"),
    Kind("meeting", "meeting", "会議録（支援会議・重層的支援会議: 出席者の氏名と協議の内容）", 5,
         _LAW + "。支援会議の内容は社会福祉法 第106条の6 の守秘義務の下にある",
         "会議の最後の記録（決定・評価）の日", "出席者の氏名と協議の内容は会議録に残ります（相談者の消去の対象外）"),
    Kind("engagement", "outreach", "アウトリーチの記録（住所・所在地域、接触の記録、プラン）", 5, _LAW,
         "引継ぎの日（プランがあればその終結の日）",
         "住所・所在地域と接触の記録はここに残ります（相談者の消去の対象外）"),
    Kind("support", "participation", "参加支援の記録（ニーズ・マッチング・定着の記録、プラン）", 5, _LAW,
         "プランの終結の日", "ケース番号で相談者を指す記録です。ここの経過記録の文章は残ります"),
    Kind("community_case", "community", "地域づくりの記録（ケースから挙がった地域の課題とその経過記録）", 5, _LAW,
         "そのケースの地域の課題がすべて解決した日", "地域の課題とここの経過記録の文章は残ります"),
)}
DEFAULT_YEARS = {code: kind.years for code, kind in KINDS.items()}


@dataclass(frozen=True)
class Rule:
    """How a program's events open and complete its record of a case (`Class.Event`; a plan's evaluation as
    `Plan.Evaluated:<outcome>`). `tracked`: the aggregates whose state decides; the record is completed when
    each of them is (`closes` completes the aggregate, `closes_all` every one of the case's, `opens` reopens
    one). `per_meeting`: one record per aggregate, completed by its last event (a sitting's record).
    `follows_case`: a record with no plan of this program's own (a support started by the meeting's decision,
    a case held in its household's plan) is completed with the case at intake (`settle`): this program's store
    never hears of the plan's 終結 elsewhere."""

    kind: str
    tracked: frozenset[str]
    opens: frozenset[str] = frozenset()
    closes: frozenset[str] = frozenset()
    closes_all: frozenset[str] = frozenset()
    per_meeting: bool = False
    follows_case: bool = False


def _set(*names: str) -> frozenset[str]:
    return frozenset(names)


_PLAN_OPENS = _set("Plan.Drafted", "Plan.Resumed", "Plan.Evaluated:continued", "Plan.Evaluated:suspended")
RULES: dict[str, Rule] = {
    "intake": Rule("case", _set("Case"),
                   opens=_set("Case.Received", "Case.Escalated", "Case.JoinedHouseholdPlan", "Case.PlanSuspended",
                              "Case.PlanResumed", "Case.Returned"),
                   closes=_set("Case.Closed", "Case.PlanEnded")),
    "collaboration": Rule("collaboration_case", _set("CollaborationCase", "Plan"),
                          opens=_set("CollaborationCase.Opened", "CollaborationCase.Reopened") | _PLAN_OPENS,
                          closes_all=_set("CollaborationCase.ReturnedToIntake", "Plan.Evaluated:closed"),
                          follows_case=True),
    "meeting": Rule("meeting", _set("Meeting"), per_meeting=True),
    "outreach": Rule("engagement", _set("Engagement", "Plan"),
                     opens=_set("Engagement.Started") | _PLAN_OPENS, closes=_set("Engagement.HandedOver"),
                     closes_all=_set("Plan.Evaluated:closed")),
    "participation": Rule("support", _set("Support", "Plan"), opens=_set("Support.Started") | _PLAN_OPENS,
                          closes_all=_set("Plan.Evaluated:closed"), follows_case=True),
    "community": Rule("community_case", _set("RegionalIssue"),
                      opens=_set("RegionalIssue.Opened", "RegionalIssue.InitiativeStarted"),
                      closes=_set("RegionalIssue.Resolved")),
}
#: intake's events that say whose a case is and whose information was erased (read for `people_due`)
PERSON_OF_CASE = "Case.Received"
PERSON_ERASED = "Person.Erased"


def wanted(service: str, name: str) -> bool:
    """Whether a stored event (`Class.Event`) is read for the retention of `service`'s records."""
    rule = RULES[service]
    return name.split(".", 1)[0] in rule.tracked or (service == "intake" and name == PERSON_ERASED)


@dataclass(frozen=True)
class Step:
    """One stored event as retention reads it: `name` `Class.Event` (`Plan.Evaluated:<outcome>`), its
    aggregate, the case it belongs to (its meta), the day in Japan it was recorded; for `Case.Received`
    the case's person."""

    name: str
    aggregate_id: str
    case_id: str | None
    day: date
    person_ref: str | None = None


@dataclass(frozen=True)
class Record:
    """A program's record (of a case; of a sitting for the meeting): completed on `closed_on`, or open (None)."""

    service: str
    kind: str
    key: str
    case_ids: tuple[str, ...]
    closed_on: date | None
    last_on: date
    follows_case: bool = False


@dataclass(frozen=True)
class Due:
    """A record past its retention period (or, with `state=all`, any record with its dates)."""

    service: str
    kind: str
    key: str
    case_ids: tuple[str, ...]
    closed_on: date | None
    years: int
    due_on: date | None
    last_on: date | None = None
    follows_case: bool = False

    def past(self, today: date) -> bool:
        return self.due_on is not None and self.due_on <= today


@dataclass
class _Track:
    kind: str
    open: bool = True
    closed_on: date | None = None


@dataclass
class _Folding:
    tracks: dict[str, _Track] = field(default_factory=dict)
    case_ids: set[str] = field(default_factory=set)
    last_on: date = date.min


def records(service: str, steps: Iterable[Step]) -> list[Record]:
    """The program's records, folded from its events in store order."""
    rule = RULES[service]
    folding: dict[str, _Folding] = {}
    for step in steps:
        if step.name.split(".", 1)[0] not in rule.tracked:
            continue
        key = step.aggregate_id if rule.per_meeting else step.case_id
        if key is None:
            continue
        record = folding.setdefault(key, _Folding())
        record.last_on = step.day
        if step.case_id:
            record.case_ids.add(step.case_id)
        track = record.tracks.setdefault(step.aggregate_id, _Track(step.name.split(".", 1)[0]))
        if step.name in rule.opens:
            track.open, track.closed_on = True, None
        elif step.name in rule.closes:
            track.open, track.closed_on = False, step.day
        elif step.name in rule.closes_all:
            for each in record.tracks.values():
                each.open, each.closed_on = False, step.day
    found = []
    for key, record in folding.items():
        follows = False
        if rule.per_meeting:
            closed: date | None = record.last_on
        elif any(t.open for t in record.tracks.values()):
            closed = None
            follows = rule.follows_case and all(t.kind != "Plan" for t in record.tracks.values())
        else:
            closed = max(t.closed_on for t in record.tracks.values() if t.closed_on is not None)
        found.append(Record(service, rule.kind, key, tuple(sorted(record.case_ids)), closed, record.last_on, follows))
    return found


def settle(found: Iterable[Record], intake: Iterable[Record]) -> list[Record]:
    """Records that follow their case completed with it: on the day intake's record of every case they name was
    completed (or their own last entry, if later); open while any of those is open or unknown here."""
    cases = {r.key: r for r in intake if r.service == "intake" and r.kind == "case"}
    settled = []
    for r in found:
        done = [cases[c].closed_on for c in r.case_ids if c in cases]
        if r.follows_case and r.case_ids and len(done) == len(r.case_ids) and all(done):
            r = Record(r.service, r.kind, r.key, r.case_ids, max([*(d for d in done if d), r.last_on]), r.last_on)
        settled.append(r)
    return settled


def people(steps: Iterable[Step]) -> tuple[dict[str, list[str]], set[str]]:
    """From intake's events: each person's cases (in the order received), and the people erased."""
    cases: dict[str, list[str]] = {}
    erased: set[str] = set()
    for step in steps:
        if step.name == PERSON_OF_CASE and step.person_ref and step.case_id:
            cases.setdefault(step.person_ref, []).append(step.case_id)
        elif step.name == PERSON_ERASED:
            erased.add(step.aggregate_id)
    return cases, erased


def add_years(day: date, years: int) -> date:
    """The same day `years` later (29 February into a common year is 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def judged(found: Iterable[Record], years: Mapping[str, int]) -> list[Due]:
    """Each record with its period and the first day past it (None while it is open)."""
    return [Due(r.service, r.kind, r.key, r.case_ids, r.closed_on, years[r.kind],
                add_years(r.closed_on, years[r.kind]) if r.closed_on else None, r.last_on, r.follows_case) for r in found]


def past(found: Iterable[Record], years: Mapping[str, int], today: date) -> list[Due]:
    """The records past their period on `today` (the first day past it is `due_on`: due_on <= today),
    the longest past first."""
    return sorted((d for d in judged(found, years) if d.past(today)), key=lambda d: (d.due_on, d.key))


@dataclass(frozen=True)
class PersonDue:
    """A person whose information may be erased at expiry, or why not yet (`held`: the records still open)."""

    person_ref: str
    case_ids: tuple[str, ...]
    closed_on: date | None
    years: int
    due_on: date | None
    held: tuple[str, ...] = ()

    def past(self, today: date) -> bool:
        return self.due_on is not None and self.due_on <= today and not self.held


def person_due(person_ref: str, case_ids: Iterable[str], every: Iterable[Record], years: int) -> PersonDue:
    """D9 with 保存年限: a person's information is kept while any program's record of their cases is open,
    and for `years` after the last of them was completed."""
    mine = set(case_ids)
    return _person_due(person_ref, mine, [r for r in every if mine & set(r.case_ids)], years)


def _person_due(person_ref: str, mine: set[str], related: Iterable[Record], years: int) -> PersonDue:
    related = list(related)
    held = tuple(sorted(f"{r.service}:{r.key}" for r in related if r.closed_on is None))
    closed = [r.closed_on for r in related if r.closed_on is not None]
    last = max(closed) if closed and not held else None
    return PersonDue(person_ref, tuple(sorted(mine)), last, years, add_years(last, years) if last else None, held)


def people_due(cases: Mapping[str, list[str]], erased: set[str], every: Iterable[Record], years: int,
               today: date) -> list[PersonDue]:
    """The people not yet erased whose information is past its period on `today`, the longest past first."""
    by_case: dict[str, list[Record]] = {}
    for record in every:
        for case_id in record.case_ids:
            by_case.setdefault(case_id, []).append(record)
    due = []
    for person_ref, own in cases.items():
        if person_ref in erased:
            continue
        related = {id(r): r for c in own for r in by_case.get(c, ())}  # a record of two of their cases counts once
        due.append(_person_due(person_ref, set(own), related.values(), years))
    return sorted((d for d in due if d.past(today)), key=lambda d: (d.due_on, d.person_ref))


class PeriodsInvalid(ValueError):
    """A retention file that cannot be used: what is wrong, in Japanese and English."""


def read_periods(text: str | None, where: str = "retention.toml") -> dict[str, int]:
    """The periods in years per record kind: a TOML `[retention]` table's, the defaults for what it leaves out."""
    if text is None:
        return dict(DEFAULT_YEARS)
    try:
        table = tomllib.loads(text).get("retention", {})
    except tomllib.TOMLDecodeError as exc:
        raise PeriodsInvalid(f"保存年限の設定 {where} が読めません: {exc}\ncannot read {where}: {exc}") from None
    if not isinstance(table, dict):
        raise PeriodsInvalid(f"{where}: [retention] は表にしてください / [retention] must be a table")
    unknown = sorted(set(table) - set(KINDS))
    if unknown:
        raise PeriodsInvalid(f"{where}: 知らない記録の種類 {', '.join(unknown)}（{', '.join(KINDS)} のみ）\n"
                             f"{where}: unknown record kind(s) {', '.join(unknown)}")
    for kind, years in table.items():
        if not isinstance(years, int) or isinstance(years, bool) or not 0 <= years <= 100:
            raise PeriodsInvalid(f"{where}: {kind} = {years!r} は 0〜100 の整数（年）にしてください\n"
                                 f"{where}: {kind} must be a whole number of years, 0 to 100")
    return {**DEFAULT_YEARS, **table}
