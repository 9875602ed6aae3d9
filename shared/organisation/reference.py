"""The municipality's reference data (DOMAIN.md): divisions, intake counters, programs, partners, concern fields,
resource kinds and meeting kinds, read from the municipality file (issue 18; shared/organisation/municipality.py).

The file is `JUSOU_MUNICIPALITY_FILE` (`jusou up --municipality FILE`), else Chofu's (municipalities/chofu.toml). It is
loaded on first use. Codes are ASCII (they travel in HTTP headers and on the bus); names are Japanese with
English beside. Events and records carry codes, never names.

Over time: every lookup takes `on` (a date; default today in Japan). The tables `DIVISIONS`, `COUNTERS`,
`PROGRAMS`, `CONCERN_FIELDS`, `RESOURCE_KINDS` hold every code the file has ever known, each as it is today (or,
when its entry has ended, as it last was), so a record made under an older organisation still reads as a name;
`divisions(on)`, `counters(on)`… hold only what is valid on a day (what a form offers). A division that ended has
a successor (`successor`), which reads and works its cases (shared/organisation/scope.py).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, overload

from shared import settings, tenancy
from shared.organisation.municipality import DEFAULT_FILE, About, MunicipalityFileError, Organisation, load

JST = timezone(timedelta(hours=9))
VARIABLE = "JUSOU_MUNICIPALITY_FILE"


_EPOCH = date(1970, 1, 1)
_day: tuple[int, date] = (0, _EPOCH)


def today() -> date:
    """Today in Japan: the day lookups default to (cheap: every lookup asks)."""
    global _day
    number = int((time.time() + 9 * 3600) // 86400)
    last = _day
    if last[0] == number:
        return last[1]
    _day = (number, _EPOCH + timedelta(days=number))
    return _day[1]


@dataclass(frozen=True)
class Division:
    code: str
    ja: str
    en: str
    valid_from: date = date.min
    valid_to: date | None = None
    successor: str | None = None


@dataclass(frozen=True)
class Counter:
    """One of the intake counters (相談窓口) and the division it belongs to (D2)."""

    code: str
    ja: str
    en: str
    division: str
    valid_from: date = date.min
    valid_to: date | None = None
    fields: tuple[str, ...] = ()  # the concern fields it mainly takes (codes)


@dataclass(frozen=True)
class Partner:
    """A partner outside the city's divisions (社会福祉協議会, ハローワーク…)."""

    code: str
    ja: str
    en: str


@dataclass(frozen=True)
class Program:
    """A program (事業) of the source, under one of the five 重層的支援 programs or beside them."""

    code: str
    ja: str
    en: str
    kind: str  # intake | community | collaboration | participation | outreach | related
    division: str | None
    valid_from: date = date.min
    valid_to: date | None = None


@dataclass(frozen=True)
class ConcernField:
    """相談内容の分野 (D2)."""

    code: str
    ja: str
    en: str


@dataclass(frozen=True)
class ResourceKind:
    """社会資源の種類 (D8 D13): what community develops and participation matches."""

    code: str
    ja: str
    en: str


@dataclass(frozen=True)
class Area:
    """地区 (issue 18): a 日常生活圏域・福祉圏域 of the municipality; its code travels as `area_code`."""

    code: str
    ja: str
    en: str
    valid_from: date = date.min
    valid_to: date | None = None


@dataclass(frozen=True)
class ReferralSource:
    """紹介元 that is not an agency of the file (本人, 家族, 近隣住民…); its code travels as `referrer:<code>`."""

    code: str
    ja: str
    en: str


@dataclass(frozen=True)
class Forum:
    """協議の場 (D8, issue 18): where a regional issue is taken up; its code travels as `forum:<code>`. `council`: the
    推進会議, the forum collaboration's council sits as."""

    code: str
    ja: str
    en: str
    council: bool = False
    valid_from: date = date.min
    valid_to: date | None = None


@dataclass(frozen=True)
class MeetingKind:
    """会議の種類: the two the law defines (重層的支援会議, 支援会議), named as the municipality names them."""

    code: str
    ja: str
    en: str


# --- which file, loaded once per path ------------------------------------------------------------------------

_loaded: dict[Path, Organisation] = {}
_current: tuple[object, Organisation] | None = None


def municipality_file() -> Path:
    """The configured municipality file (`JUSOU_MUNICIPALITY_FILE`), else Chofu's. Read also while other settings
    are bad (a module's import may read the organisation before the program's `exit_if_invalid` reports them)."""
    try:
        configured = settings.current().municipality_file
    except settings.SettingsError:
        configured = os.environ.get(VARIABLE, "").strip()
    return Path(configured).resolve() if configured else DEFAULT_FILE


_KEY = os.fsencode(VARIABLE)


def _raw_variable() -> object:
    """`JUSOU_MUNICIPALITY_FILE` as the process has it now, only to notice a change: every lookup asks, and
    `os.environ.get` of an unset variable raises and catches a KeyError inside (≈10 µs); its dict is ≈0.1 µs."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and os.name == "posix":
        return data.get(_KEY)
    return os.environ.get(VARIABLE)


#: The file `in_force` set for this context (a task, a thread): a tenant's (issue 18, many municipalities on one
#: deployment); None: the configured one.
_in_force: ContextVar[Path | None] = ContextVar("jusou_municipality_file", default=None)


@contextmanager
def in_force(path: Path | str) -> Iterator[Organisation]:
    """Within the block (this context only: an asyncio task or a thread), every lookup of this module and of
    scope.py reads the municipality file at `path`, loaded once per path: what a service serving several
    municipalities sets from the signed-in staff member's or the event's tenant. A bad file raises
    MunicipalityFileError at once."""
    chosen = Path(path).resolve()
    if chosen not in _loaded:
        _loaded[chosen] = load(chosen)
    token = _in_force.set(chosen)
    try:
        yield _loaded[chosen]
    finally:
        _in_force.reset(token)


def organisation() -> Organisation:
    """The organisation in force: the file `in_force` set for this context, else the acting tenant's own file (on a
    deployment of many municipalities, shared/tenancy.py), else the configured municipality's, loaded (and
    validated) on first use; a changed `JUSOU_MUNICIPALITY_FILE` (a test's monkeypatch) is seen at
    once. A bad file raises MunicipalityFileError."""
    global _current
    chosen = _in_force.get()
    if chosen is not None:
        return _loaded[chosen]
    scoped = tenancy.current_organisation()  # many municipalities on one deployment: the acting tenant's own file
    if scoped is not None:
        return scoped
    raw = _raw_variable()
    last = _current
    if last is not None and last[0] == raw:
        return last[1]
    path = municipality_file()
    if path not in _loaded:
        _loaded[path] = load(path)
    _current = (raw, _loaded[path])
    return _loaded[path]


def exit_if_invalid() -> Organisation:
    """A program's first steps, after the settings': a municipality file that cannot be used stops it with status 2
    and what is wrong where (the file, the line, the entry), no traceback."""
    try:
        return organisation()
    except MunicipalityFileError as error:
        print(error, file=sys.stderr)
        named = os.environ.get("JUSOU_MUNICIPALITY_FILE")
        if named:  # the README's promise: a refused setting names its variable
            print(f"（環境変数 JUSOU_MUNICIPALITY_FILE={named} が指すファイルです）/ (the file JUSOU_MUNICIPALITY_FILE names)",
                  file=sys.stderr)
        raise SystemExit(2) from None


def municipality() -> About:
    """The municipality itself: `code` (全国地方公共団体コード), `ja` (its name), `en`, `lead_division`."""
    return organisation().about


# --- the tables, as dataclasses, per day ------------------------------------------------------------------------

_MAKERS: dict[str, Callable[[Any], Any]] = {
    "divisions": lambda e: Division(e.code, e.ja, e.en, e.valid_from, e.valid_to, e.successor),
    "counters": lambda e: Counter(e.code, e.ja, e.en, e.division, e.valid_from, e.valid_to, tuple(e.fields)),
    "partners": lambda e: Partner(e.code, e.ja, e.en),
    "programs": lambda e: Program(e.code, e.ja, e.en, e.kind, e.division, e.valid_from, e.valid_to),
    "concern_fields": lambda e: ConcernField(e.code, e.ja, e.en),
    "resource_kinds": lambda e: ResourceKind(e.code, e.ja, e.en),
    "meeting_kinds": lambda e: MeetingKind(e.code, e.ja, e.en),
    "areas": lambda e: Area(e.code, e.ja, e.en, e.valid_from, e.valid_to),
    "referral_sources": lambda e: ReferralSource(e.code, e.ja, e.en),
    "forums": lambda e: Forum(e.code, e.ja, e.en, e.council, e.valid_from, e.valid_to),
}
#: the tables made, by (the organisation's id, table, day, ever), each beside the organisation it was made of: a hit is
#: taken only for that very object (an id is reused once its object is freed: a test's file, a reloaded one)
_made: dict[tuple[int, str, date, bool], tuple[Organisation, dict[str, Any]]] = {}


def _table(table: str, on: date | None, *, ever: bool) -> dict[str, Any]:
    org, day = organisation(), on or today()
    key = (id(org), table, day, ever)
    kept = _made.get(key)
    if kept is None or kept[0] is not org:
        if len(_made) > 4096:
            _made.clear()
        entries = org.latest(table, day) if ever else org.on(table, day)
        kept = _made[key] = (org, {code: _MAKERS[table](entry) for code, entry in entries.items()})
    return kept[1]


T = TypeVar("T")


class _Table(Mapping[str, T]):
    """A table of the configured file, read when used: every code ever known, each as it is today (or last was)."""

    def __init__(self, table: str) -> None:
        self._name = table

    def _rows(self) -> dict[str, T]:
        return _table(self._name, None, ever=True)

    def __getitem__(self, code: str) -> T:
        return self._rows()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def keys(self) -> KeysView[str]:
        return self._rows().keys()

    def values(self) -> ValuesView[T]:
        return self._rows().values()

    def items(self) -> ItemsView[str, T]:
        return self._rows().items()

    def __repr__(self) -> str:
        return f"<{self._name} of {municipality_file().name}: {', '.join(self._rows())}>"


class _Partners(Sequence[str]):
    """Partners outside the city's divisions (社会福祉協議会, ハローワーク…) valid today, by name."""

    def _names(self) -> tuple[str, ...]:
        return organisation().partners(today())

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


DIVISIONS: Mapping[str, Division] = _Table("divisions")
COUNTERS: Mapping[str, Counter] = _Table("counters")
PROGRAMS: Mapping[str, Program] = _Table("programs")
CONCERN_FIELDS: Mapping[str, ConcernField] = _Table("concern_fields")
RESOURCE_KINDS: Mapping[str, ResourceKind] = _Table("resource_kinds")
MEETING_KINDS: Mapping[str, MeetingKind] = _Table("meeting_kinds")
AREAS: Mapping[str, Area] = _Table("areas")
REFERRAL_SOURCES: Mapping[str, ReferralSource] = _Table("referral_sources")
FORUMS: Mapping[str, Forum] = _Table("forums")
#: Partners outside the city's divisions that take roles in plans and sit in meetings.
PARTNERS: Sequence[str] = _Partners()


def divisions(on: date | None = None) -> dict[str, Division]:
    """The divisions valid on `on` (default today): what a form or a staff account may name."""
    return _table("divisions", on, ever=False)


def counters(on: date | None = None) -> dict[str, Counter]:
    """The intake counters valid on `on`, each with its division that day."""
    return _table("counters", on, ever=False)


def programs(on: date | None = None) -> dict[str, Program]:
    return _table("programs", on, ever=False)


def concern_fields(on: date | None = None) -> dict[str, ConcernField]:
    return _table("concern_fields", on, ever=False)


def resource_kinds(on: date | None = None) -> dict[str, ResourceKind]:
    return _table("resource_kinds", on, ever=False)


def areas(on: date | None = None) -> dict[str, Area]:
    """The 地区 valid on `on` (what a form offers; none when the file lists none)."""
    return _table("areas", on, ever=False)


def referral_sources(on: date | None = None) -> dict[str, ReferralSource]:
    """The 紹介元 that are not agencies, valid on `on` (what outreach's start form offers beside the agencies)."""
    return _table("referral_sources", on, ever=False)


def forums(on: date | None = None) -> dict[str, Forum]:
    """The 協議の場 valid on `on` (what community's initiative form offers; none when the file lists none)."""
    return _table("forums", on, ever=False)


def partners(on: date | None = None) -> tuple[str, ...]:
    """The partners' names valid on `on` (what a form offers)."""
    return organisation().partners(on or today())


def partner_entries(on: date | None = None) -> dict[str, Partner]:
    """The partners valid on `on`, by code."""
    return _table("partners", on, ever=False)


def division(code: str, on: date | None = None) -> Division | None:
    """The division `code` as it was on `on` (default today); None when it did not exist that day."""
    return divisions(on).get(code)


def counter(code: str, on: date | None = None) -> Counter | None:
    """The counter `code` as it was on `on` (its division that day); None when it did not exist that day."""
    return counters(on).get(code)


def successor(code: str, on: date | None = None) -> str | None:
    """The division that works division `code`'s cases on `on` (default today): itself while it exists, else
    the successor the file names (followed through later reorganisations); None for a code that is not a division."""
    return _remembered("successor", on, code, lambda: organisation().successor(code, on or today()))


def day_of(moment: date | str | None) -> date | None:
    """The day in Japan of a record's moment: a date, a datetime (naive: UTC, as stored), or ISO text of either;
    None when there is none or it cannot be read."""
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        try:
            moment = date.fromisoformat(moment) if len(moment) == 10 else datetime.fromisoformat(moment)
        except ValueError:
            return None
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(JST).date()
    return moment


def division_display(code: str | None, on: date | str | None = None) -> str:
    """A division's name for a record made on `on` (a date, or the record's moment: `day_of`): its name that day
    and, when today's differs (renamed, or ended and worked by a successor), today's beside it:
    「高齢福祉課（現: 高齢介護課）」. Without `on`, its latest name (and its successor's when it ended). An unknown code
    as itself."""
    if not code:
        return ""
    now = DIVISIONS.get(code)
    if now is None:
        return code
    day = day_of(on)
    then = (division(code, day) if day else None) or now
    current = successor(code)
    today_name = DIVISIONS[current].ja if current else now.ja
    return then.ja if today_name == then.ja else f"{then.ja}（現: {today_name}）"


def counter_display(code: str | None, on: date | str | None = None) -> str:
    """A counter's name for a record made on `on` (as `division_display`): its name that day, today's beside it
    when it was renamed since. An unknown code as itself."""
    if not code:
        return ""
    now = COUNTERS.get(code)
    if now is None:
        return code
    day = day_of(on)
    then = (counter(code, day) if day else None) or now
    return then.ja if now.ja == then.ja else f"{then.ja}（現: {now.ja}）"


def lead_division() -> str:
    """The division that runs the 重層的支援体制整備事業's secretariat and its meetings (the file's `lead_division`, or its
    successor)."""
    return successor(municipality().lead_division) or municipality().lead_division


def counter_division() -> str:
    """The division of the first counter valid today (a demo counselor's division)."""
    return next(iter(counters().values())).division


# --- agencies: the names plans and meetings use ------------------------------------------------------------------


_memo: dict[tuple[str, int, date, str], tuple[Organisation, Any]] = {}


def _remembered(kind: str, on: date | None, arg: str, compute: Callable[[], T]) -> T:
    """`compute()` once per organisation, day and argument (lookups in loops: scope, membership); a hit is taken only
    for the very organisation it was computed for (its id may be reused once it is freed)."""
    org = organisation()
    key = (kind, id(org), on or today(), arg)
    kept = _memo.get(key)
    if kept is not None and kept[0] is org:
        found: T = kept[1]
        return found
    if len(_memo) > 20000:
        _memo.clear()
    value = compute()
    _memo[key] = (org, value)
    return value


def agencies(on: date | None = None) -> set[str]:
    """Every agency a plan role or a meeting attendee may name on `on` (D4, D5): divisions, counters, programs,
    partners valid that day."""

    def compute() -> frozenset[str]:
        names = {d.ja for d in divisions(on).values()} | {c.ja for c in counters(on).values()}
        names |= {p.ja for p in programs(on).values() if p.kind != "related"}
        return frozenset(names | set(partners(on)))

    return set(_remembered("agencies", on, "", compute))


def division_of(agency: str, on: date | None = None) -> str | None:
    """The city division behind an agency name or code (a division, a counter or a program it runs) on `on`; an
    older name (a division since renamed) still counts. None for a partner outside the city (D4, D10, D11:
    membership and scope compare these codes, never names)."""
    return _remembered("division_of", on, agency, lambda: _division_of(agency, on))


def _division_of(agency: str, on: date | None) -> str | None:
    for tables in ((divisions(on), counters(on), programs(on)), (DIVISIONS, COUNTERS, PROGRAMS)):
        for d in tables[0].values():
            if d.ja == agency or d.code == agency:
                return str(d.code)
        for c in tables[1].values():
            if c.ja == agency or c.code == agency:
                return str(c.division)
        for p in tables[2].values():
            if p.ja == agency or p.code == agency:
                return p.division
    org = organisation()
    for entry in org.model.divisions:  # a name the division had before a rename
        if entry.ja == agency:
            return entry.code
    for old in org.model.counters:  # a counter's or a program's former name: its division as the code is now
        if old.ja == agency:
            return COUNTERS[old.code].division
    for program in org.model.programs:
        if program.ja == agency:
            return PROGRAMS[program.code].division
    return None


def member_divisions(agencies: list[str]) -> frozenset[str]:
    """The city's divisions among a sitting's attendees (or a plan's role agencies), as codes."""
    return frozenset(d for d in map(division_of, agencies) if d)


def unknown_agencies(names: list[str], on: date | None = None) -> list[str]:
    known = agencies(on)
    return [n for n in names if n not in known]


#: The kinds of agency a code names (`<kind>:<code>`, `agency_code`): a code is unique within its table only.
AGENCY_KINDS = ("division", "counter", "program", "partner")


def agency_code(agency: str | None, on: date | None = None) -> str | None:
    """The code an event carries for an agency named by a person (a plan role, a つなぎ先, a meeting attendee, the
    主担当): `division:<code>`, `counter:<code>`, `program:<code>` or `partner:<code>` of the municipality file, the
    entry valid on `on` first, then a former name (a division since renamed still resolves). An agency given as
    its code already (`counter:houkatsu`) is returned as it is. None for a name the file does not know."""
    if not agency:
        return None
    return _remembered("agency_code", on, agency, lambda: _agency_code(agency, on))


def _agency_code(agency: str, on: date | None) -> str | None:
    kind, _, code = agency.partition(":")
    tables = {"division": "divisions", "counter": "counters", "program": "programs", "partner": "partners"}
    if kind in tables and code in _table(tables[kind], on, ever=True):
        return agency
    for ever in (False, True):
        for kind, table in tables.items():
            for entry in _table(table, on, ever=ever).values():
                if entry.ja == agency:
                    return f"{kind}:{entry.code}"
    org = organisation()
    for kind, table in tables.items():  # a name an entry had before (renamed)
        for row in getattr(org.model, table):
            if row.ja == agency:
                return f"{kind}:{row.code}"
    return None


def agency_codes(agencies: list[str], on: date | None = None) -> list[str | None]:
    """`agency_code` of each, in order (None where the file does not know the name)."""
    return [agency_code(a, on) for a in agencies]


def agency_name(code: str | None, on: date | None = None) -> str:
    """The name for people of an agency code (`counter:houkatsu` → 地域包括支援センター): its entry on `on`, else
    as it last was; an unknown code as itself."""
    if not code:
        return ""
    kind, _, short = code.partition(":")
    tables = {"division": "divisions", "counter": "counters", "program": "programs", "partner": "partners"}
    if kind not in tables:
        return code
    entry = _table(tables[kind], on, ever=False).get(short) or _table(tables[kind], on, ever=True).get(short)
    return str(entry.ja) if entry is not None else code


def area_code(area: str | None, on: date | None = None) -> str | None:
    """The code an event carries for a 地区 named by a person (its name on `on`, a former name, or its code already);
    None for an area the file does not know (a 町名 finer than its 地区, free text)."""
    if not area or not (value := area.strip()):
        return None
    return _remembered("area_code", on, value, lambda: _code_in("areas", value, on))


def area_name(code: str | None, on: date | None = None) -> str:
    """The name of a 地区's code on `on` (else as it last was); an unknown code as itself."""
    if not code:
        return ""
    entry = _table("areas", on, ever=False).get(code) or _table("areas", on, ever=True).get(code)
    return str(entry.ja) if entry is not None else code


def _code_in(table: str, value: str, on: date | None) -> str | None:
    for ever in (False, True):
        for entry in _table(table, on, ever=ever).values():
            if value in (entry.code, entry.ja):
                return str(entry.code)
    return next((str(row.code) for row in getattr(organisation().model, table) if row.ja == value), None)


#: `referred_by_code` (issue 18): an agency's code (AGENCY_KINDS), a referral source of the file
#: (`referrer:<code>`), or the kind of meeting whose decision connected the person (`meeting_kind:<code>`).
REFERRER = "referrer"
MEETING_KIND = "meeting_kind"


def referrer_code(referrer: str | None, on: date | None = None) -> str | None:
    """The code an event carries for who referred a person (紹介元): an agency of the file (`partner:minsei-iin`), a
    referral source of the file (`referrer:family`), a meeting kind (`meeting_kind:shien_kaigi`, given as such); a
    code given is returned as it is when the file knows it. None for a referrer the file does not know."""
    if not referrer or not (value := referrer.strip()):
        return None
    kind, _, code = value.partition(":")
    if kind == REFERRER:
        return value if code in REFERRAL_SOURCES else None
    if kind == MEETING_KIND:
        return value if code in MEETING_KINDS else None
    found = _code_in("referral_sources", value, on)
    return f"{REFERRER}:{found}" if found else agency_code(value, on)


def referrer_name(code: str | None, on: date | None = None) -> str:
    """The name for people of a `referred_by_code` (an agency's, a referral source's or a meeting kind's) on `on`;
    an unknown code as itself."""
    if not code:
        return ""
    kind, _, short = code.partition(":")
    if kind in (REFERRER, MEETING_KIND):
        table = "referral_sources" if kind == REFERRER else "meeting_kinds"
        entry = _table(table, on, ever=False).get(short) or _table(table, on, ever=True).get(short)
        return str(entry.ja) if entry is not None else code
    return agency_name(code, on)


#: `forum_code` (issue 18): a forum of the file's [[forums]] (`forum:<code>`); an initiative recorded before the file had
#: forums may carry an agency's code (`program:<code>`), which still reads as its name.
FORUM = "forum"
#: The council's name when the file lists no forum as the council (a file written before [[forums]]).
COUNCIL_NAME = "推進会議"


def council_forum(on: date | None = None) -> Forum | None:
    """The 推進会議 as the file has it on `on` (default today): the forum with `council = true` valid that day, else
    the council entry nearest that day (before the first one begins, after the last one ends); None when the file
    marks no forum as the council."""

    def compute() -> Forum | None:
        valid = [f for f in forums(on).values() if f.council]
        if valid:
            return valid[0]
        ever: list[Forum] = [f for f in _table("forums", on, ever=True).values() if f.council]
        before = [f for f in ever if f.valid_from <= (on or today())]
        if before:
            return max(before, key=lambda f: f.valid_from)
        return min(ever, key=lambda f: f.valid_from) if ever else None

    return _remembered("council_forum", on, "", compute)


def council_name(on: date | None = None) -> str:
    """The name pages give the 推進会議 on `on`: the council forum's, else 「推進会議」 (a file without [[forums]])."""
    council = council_forum(on)
    return council.ja if council is not None else COUNCIL_NAME


def forum_code(forum: str | None, on: date | None = None) -> str | None:
    """The code InitiativeStarted carries for a 協議の場 named by a person: `forum:<code>` for a forum of the file (its
    name on `on`, a former name, or its code, bare or as `forum:<code>`), else the agency's code when the forum named
    is an agency of the file (`program:<code>`); None for a forum the file does not know (written freely)."""
    if not forum or not (value := forum.strip()):
        return None
    kind, _, short = value.partition(":")
    if kind == FORUM:
        return value if short in FORUMS else None
    found = _remembered("forum_code", on, value, lambda: _code_in("forums", value, on))
    return f"{FORUM}:{found}" if found else agency_code(value, on)


def forum_name(code: str | None, on: date | None = None) -> str:
    """The name for people of a `forum_code` on `on` (else as it last was): a forum's, or an agency's (an initiative
    recorded before the file had forums); an unknown code as itself."""
    if not code:
        return ""
    kind, _, short = code.partition(":")
    if kind == FORUM:
        entry = _table("forums", on, ever=False).get(short) or _table("forums", on, ever=True).get(short)
        return str(entry.ja) if entry is not None else code
    return agency_name(code, on)


def concern_codes(names: list[str]) -> list[str | None]:
    """The codes of concern fields named by a person (or already codes), in order; None for an unknown one."""
    return [c.code if (c := concern_field(n)) is not None else None for n in names]


def resource_kind(value: str) -> ResourceKind | None:
    """The kind named by its code or its Japanese name (`ibasho` or `居場所`); None when unknown."""
    value = value.strip()
    return RESOURCE_KINDS.get(value) or next((k for k in RESOURCE_KINDS.values() if k.ja == value), None)


def concern_field(value: str) -> ConcernField | None:
    """A concern field by its code or its Japanese name (D2)."""
    return CONCERN_FIELDS.get(value) or next((c for c in CONCERN_FIELDS.values() if c.ja == value), None)


# Each service's title (its UI header, its OpenAPI and AsyncAPI documents).
DIVISION_TITLES = {
    "intake": "包括的相談支援事業 (Intake)",
    "collaboration": "多機関協働事業 (Collaboration)",
    "meeting": "重層的支援会議・支援会議 (Meeting)",
    "outreach": "アウトリーチ等を通じた継続的支援事業 (Outreach)",
    "participation": "参加支援事業 (Participation)",
    "community": "地域づくり事業 (Community)",
}
