"""A municipality's organisation as a file (issue 18): the TOML model, its loading, and the organisation over time.

The file (shipped: municipalities/chofu.toml, the default; municipalities/kakushi.toml, a fictional second city) lists the
divisions, counters, programs, partners, concern fields, resource kinds, meeting kinds, areas (地区), referral
sources (紹介元) and forums (協議の場; one of them the 推進会議), each entry with the
dates it is valid (`valid_from`, `valid_to`: both days included; absent: always). One code may have several
entries over time (a division renamed, a counter moved to another division), never two valid on the same day.
A division that ends names its `successor`: the division that reads and works the cases it received.

`load(path)` validates the file (pydantic, then the cross references) and raises `MunicipalityFileError`
naming the file, the line and entry, and what is wrong, in Japanese and English. Records and events carry
codes, never names: a code stays readable after its entry ends (`latest`), and a successor is found for it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DATA = Path(__file__).resolve().parent / "municipalities"
DEFAULT_FILE = DATA / "chofu.toml"

Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", title="コード (ASCII: a-z 0-9 - _)")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
ProgramKind = Literal["intake", "community", "collaboration", "participation", "outreach", "related"]
#: The meeting kinds the law defines (社会福祉法 第106条の6: 支援会議; 重層的支援会議 by the 実施要綱): the
#: domain's rules (D9, D10) depend on them, so a file names them but cannot add or drop one.
MEETING_KIND_CODES = ("jusou_shien_kaigi", "shien_kaigi")
#: Codes other parts fix: the contract's resource kinds (shared/contract/events.py ResourceDevelopedV1's `kind`) and
#: the program the domain names a case's primary agency after when outreach found it (shared/domain/primary.py).
RESOURCE_KIND_CODES = ("ibasho", "shuro", "jukyo", "other")
REQUIRED_PROGRAMS = ("outreach",)


class Entry(BaseModel):
    """One version of a coded entry: its names and the days it is valid (both included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code
    ja: Name
    en: str = ""
    valid_from: date = date.min
    valid_to: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Entry:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(
                f"valid_to ({self.valid_to}) が valid_from ({self.valid_from}) より前です / valid_to is before valid_from"
            )
        return self

    def valid_on(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


class DivisionEntry(Entry):
    successor: Code | None = None  # the division that takes its cases over when it ends


class CounterEntry(Entry):
    division: Code
    #: The concern fields (相談内容の分野, codes of [[concern_fields]]) the counter mainly takes: what it is for,
    #: read by the tests to pick "the elderly counter" in any municipality's file (tests/support/municipality.py).
    fields: list[Code] = Field(default_factory=list)


class ProgramEntry(Entry):
    kind: ProgramKind
    division: Code | None = None  # None: outside the 重層的支援体制整備事業 (a related support)


class PartnerEntry(Entry):
    """A partner outside the city's divisions (社会福祉協議会, ハローワーク…): its code travels in events
    (`*_agency_code`, as `partner:<code>`), its name is for people. Codes name the kind of partner (`shakyo`,
    `hello-work`…), so two municipalities' files give the same kind the same code."""


class AreaEntry(Entry):
    """A 地区 of the municipality (日常生活圏域・福祉圏域…): where a need without a resource lies, where a resource serves.
    Its code travels as `area_code` beside the `area` people wrote (issue 18); a file may list the whole city as one."""


class ReferralSourceEntry(Entry):
    """A 紹介元 that is not an agency of the file (本人, 家族, 近隣住民, 学校, 警察…): who brought a person to outreach.
    Its code travels as `referrer:<code>` in `referred_by_code` (an agency that referred travels by its agency code)."""


class ForumEntry(Entry):
    """A 協議の場 of the municipality where a regional issue is taken up to develop a resource (D8: 「社会資源の開発は別に
    協議の場を設ける」): a 協議体, a 地域ケア会議, a 自立支援協議会… Its code travels as `forum:<code>` in InitiativeStarted's
    `forum_code` (issue 18). `council = true` marks the 推進会議: the forum collaboration's council sits as (its pages
    name it so), where an initiative the council decides on starts."""

    council: Annotated[bool, Field(strict=True)] = False  # true or false, not "yes": a typo must not make a council


class About(BaseModel):
    """The municipality itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", title="全国地方公共団体コード (6 digits)")]
    ja: Name
    en: str = ""
    lead_division: Code  # the division that runs the 重層的支援体制整備事業's secretariat and its meetings


class MunicipalityFile(BaseModel):
    """The whole file, as TOML tables: `[municipality]`, `[[divisions]]`, `[[counters]]`…"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    municipality: About
    divisions: list[DivisionEntry] = Field(min_length=1)
    counters: list[CounterEntry] = Field(min_length=1)
    programs: list[ProgramEntry] = Field(default_factory=list)
    partners: list[PartnerEntry] = Field(default_factory=list)
    concern_fields: list[Entry] = Field(min_length=1)
    resource_kinds: list[Entry] = Field(min_length=1)
    meeting_kinds: list[Entry] = Field(min_length=1)
    #: Added with the codes of issue 18: optional, so a file written before them is still valid (its events then
    #: carry no `area_code`, and referrers only as agencies).
    areas: list[AreaEntry] = Field(default_factory=list)
    referral_sources: list[ReferralSourceEntry] = Field(default_factory=list)
    #: 協議の場 (issue 18): optional like areas; a file without them names the council 「推進会議」 and its initiatives
    #: carry no forum_code. A file that lists forums marks one as the council (`council = true`).
    forums: list[ForumEntry] = Field(default_factory=list)


class MunicipalityFileError(ValueError):
    """A municipality file that cannot be used: the message names the file, the line and entry, and the problem."""


def _line_of(text: str, table: str, index: int, key: str | None) -> int | None:
    """The line (1-based) of the `index`-th `[[table]]` entry, or of its `key = ` line when found."""
    lines = text.splitlines()
    header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
    starts = [n for n, line in enumerate(lines) if header.match(line)]
    if index >= len(starts):
        single = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        starts = [n for n, line in enumerate(lines) if single.match(line)][:1]
        if not starts:
            return None
        index = 0
    start = starts[index]
    if key:
        for n in range(start + 1, len(lines)):
            if lines[n].lstrip().startswith("["):
                break
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[n]):
                return n + 1
    return start + 1


def _where(text: str, data: dict[str, Any], loc: tuple[Any, ...]) -> str:
    table = str(loc[0]) if loc else ""
    index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    key = next(
        (str(part) for part in loc[2 if len(loc) > 1 and isinstance(loc[1], int) else 1 :] if isinstance(part, str)), None
    )
    line = _line_of(text, table, index, key) if table else None
    entry = ""
    rows = data.get(table)
    if isinstance(rows, list) and index < len(rows) and isinstance(rows[index], dict):
        code = rows[index].get("code") or rows[index].get("ja")
        entry = f" [[{table}]] #{index + 1}" + (f" ({code})" if code else "")
    elif table:
        entry = f" [{table}]"
    return (f"{line}行目" if line else "") + entry + (f" {key}" if key else "")


#: pydantic's error types, said in Japanese (the English message follows).
_JAPANESE = {
    "missing": "必要な項目がありません",
    "extra_forbidden": "この項目は使えません（綴りを確認してください）",
    "string_pattern_mismatch": "コードは英小文字・数字・- _ で書きます",
    "string_too_short": "空にはできません",
    "string_too_long": "長すぎます",
    "literal_error": "使える値のいずれかではありません",
    "date_type": "日付（YYYY-MM-DD、引用符なし）ではありません",
    "date_from_datetime_parsing": "日付（YYYY-MM-DD、引用符なし）ではありません",
    "too_short": "一つ以上必要です",
    "bool_type": "true か false（引用符なし）で書きます",
    "bool_parsing": "true か false（引用符なし）で書きます",
}


def _japanese(problem: Any) -> str:
    said = _JAPANESE.get(str(problem["type"]), "値が正しくありません")
    return f"{said}（{problem['msg'].removeprefix('Value error, ')}）" if problem["type"] == "value_error" else said


def _problem(path: Path, where: str, ja: str, en: str) -> str:
    return f"{path}: {where}: {ja} / {en}"


def read_toml(path: Path, kind_ja: str, kind_en: str, error: type[Exception]) -> tuple[str, dict[str, Any]]:
    """A TOML file's text (to name a problem's line) and data; `error` naming the file when it cannot be read or is not
    TOML (the municipality file here, the tenants file in shared/tenancy.py)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as problem:
        raise error(f"{path}: {kind_ja}を読めません / cannot read {kind_en}: {problem.strerror or problem}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{path}: TOML の書き方が正しくありません / not valid TOML: {problem}") from None


def load(path: Path | str) -> Organisation:
    """The organisation in the file at `path`, validated; `MunicipalityFileError` names what is wrong and where."""
    path = Path(path)
    text, data = read_toml(path, "自治体ファイル", "the municipality file", MunicipalityFileError)
    try:
        model = MunicipalityFile.model_validate(data)
    except ValidationError as error:
        problems = [
            _problem(path, _where(text, data, tuple(p["loc"])), _japanese(p), f"{p['msg']} (input {p.get('input')!r})"[:200])
            for p in error.errors()
        ]
        raise MunicipalityFileError(
            "自治体ファイルの内容が正しくありません / the municipality file is not valid:\n  " + "\n  ".join(problems)
        ) from None
    problems = [_problem(path, _where(text, data, loc), ja, en) for loc, ja, en in _cross_check(model)]
    if problems:
        raise MunicipalityFileError(
            "自治体ファイルの内容が正しくありません / the municipality file is not valid:\n  " + "\n  ".join(problems)
        )
    return Organisation(model, path)


def _overlaps(a: Entry, b: Entry) -> bool:
    a_to, b_to = a.valid_to or date.max, b.valid_to or date.max
    return a.valid_from <= b_to and b.valid_from <= a_to


def _cross_check(model: MunicipalityFile) -> Iterable[tuple[tuple[Any, ...], str, str]]:
    """What pydantic cannot see: versions of one code overlapping, references to codes that are not there (or not
    on that day), a successor missing or ending too."""
    tables: dict[str, list[Any]] = {
        "divisions": model.divisions,
        "partners": model.partners,
        "counters": model.counters,
        "programs": model.programs,
        "concern_fields": model.concern_fields,
        "resource_kinds": model.resource_kinds,
        "meeting_kinds": model.meeting_kinds,
        "areas": model.areas,
        "referral_sources": model.referral_sources,
        "forums": model.forums,
    }
    for table, rows in tables.items():
        for i, row in enumerate(rows):
            for j in range(i):
                if rows[j].code == row.code and _overlaps(rows[j], row):
                    yield (
                        (table, i, "valid_from"),
                        f"コード {row.code} の項目が #{j + 1} と有効期間が重なっています",
                        f"code {row.code} is valid on the same days as entry #{j + 1}",
                    )
    divisions = model.divisions

    def division_on(code: str, on: date) -> bool:
        return any(d.code == code and d.valid_on(on) for d in divisions)

    placed: list[tuple[str, Sequence[CounterEntry | ProgramEntry]]] = [
        ("counters", model.counters),
        ("programs", model.programs),
    ]
    for table, placed_rows in placed:
        for i, item in enumerate(placed_rows):
            if item.division is None:
                continue
            if not any(d.code == item.division for d in divisions):
                yield (
                    (table, i, "division"),
                    f"課 {item.division} が divisions にありません",
                    f"division {item.division} is not in [[divisions]]",
                )
            elif (gap := _uncovered(item, [d for d in divisions if d.code == item.division])) is not None:
                yield (
                    (table, i, "division"),
                    f"課 {item.division} は {gap} に有効ではありません（この項目は有効です）",
                    f"division {item.division} is not valid on {gap}, a day this entry is valid",
                )
    fields = {f.code for f in model.concern_fields}
    for i, counter in enumerate(model.counters):
        for code in counter.fields:
            if code not in fields:
                yield (
                    ("counters", i, "fields"),
                    f"相談内容の分野 {code} が concern_fields にありません",
                    f"concern field {code} is not in [[concern_fields]]",
                )
    for i, d in enumerate(divisions):
        if d.successor is None:
            continue
        if d.valid_to is None:
            yield (
                ("divisions", i, "successor"),
                "successor は終わる課（valid_to のある課）にだけ書けます",
                "only a division that ends (has valid_to) has a successor",
            )
        elif d.valid_to == date.max or not division_on(d.successor, _next_day(d.valid_to)):
            yield (
                ("divisions", i, "successor"),
                f"後継の課 {d.successor} が {d.valid_to} の翌日に有効ではありません",
                f"successor {d.successor} is not valid on the day after {d.valid_to}",
            )
    yield from _council_check(model.forums)
    codes = {d.code for d in divisions}
    if model.municipality.lead_division not in codes:
        yield (
            ("municipality", 0, "lead_division"),
            f"課 {model.municipality.lead_division} が divisions にありません",
            "lead_division is not in [[divisions]]",
        )
    missing = sorted(set(RESOURCE_KIND_CODES) - {k.code for k in model.resource_kinds})
    if missing:
        yield (
            ("resource_kinds", 0, "code"),
            f"社会資源の種類 {', '.join(missing)} がありません（契約のコードです）",
            f"resource kinds {', '.join(missing)} are missing (the contract's codes)",
        )
    for code in REQUIRED_PROGRAMS:
        if not any(p.code == code for p in model.programs):
            yield (("programs", 0, "code"), f"事業 {code} がありません", f"program {code} is missing (the domain names it)")
    kinds = {k.code for k in model.meeting_kinds}
    if kinds != set(MEETING_KIND_CODES):
        yield (
            ("meeting_kinds", 0, "code"),
            f"会議の種類のコードは {', '.join(MEETING_KIND_CODES)} の二つです",
            f"meeting kinds are exactly {', '.join(MEETING_KIND_CODES)} (the law's)",
        )


def _council_check(forums: list[ForumEntry]) -> Iterable[tuple[tuple[Any, ...], str, str]]:
    """Forums listed: one of them is the 推進会議 (`council = true`), and no two different forums are it on one day."""
    councils = [(i, f) for i, f in enumerate(forums) if f.council]
    if forums and not councils:
        yield (
            ("forums", 0, "council"),
            "推進会議にあたる協議の場がありません（一つに council = true と書きます）",
            "no forum is the council: mark the 推進会議 with council = true",
        )
    for n, (i, forum) in enumerate(councils):
        for j, other in councils[:n]:
            if other.code != forum.code and _overlaps(other, forum):
                yield (
                    ("forums", i, "council"),
                    f"推進会議（council = true）が #{j + 1} ({other.code}) と同じ日に二つあります",
                    f"two forums are the council on the same days: this one and entry #{j + 1} ({other.code})",
                )


def _uncovered(row: Entry, versions: list[DivisionEntry]) -> date | None:
    """A day `row` is valid and none of its division's `versions` is (None: none such): its first day, and each
    day after one of the division's entries ends within the row's days."""
    first = max(row.valid_from, min(v.valid_from for v in versions))
    days = [row.valid_from if row.valid_from != date.min else first]
    days += [
        _next_day(v.valid_to)
        for v in versions
        if v.valid_to is not None
        and v.valid_to != date.max
        and row.valid_on(v.valid_to)
        and row.valid_on(_next_day(v.valid_to))
    ]
    return next((day for day in days if not any(v.valid_on(day) for v in versions)), None)


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


class Organisation:
    """A validated municipality file, read on a day: which entry of each code is valid on `on`, and the latest
    entry of every code (for records made under an entry that has since ended)."""

    def __init__(self, model: MunicipalityFile, source: Path) -> None:
        self.model = model
        self.source = source
        self._on: dict[tuple[str, date], dict[str, Any]] = {}
        self._latest: dict[tuple[str, date], dict[str, Any]] = {}

    @property
    def about(self) -> About:
        return self.model.municipality

    def _rows(self, table: str) -> list[Any]:
        rows: list[Any] = getattr(self.model, table)
        return rows

    def on(self, table: str, day: date) -> dict[str, Any]:
        """Code → the entry valid on `day`, in the file's order; a code with no entry valid that day is absent."""
        key = (table, day)
        if key not in self._on:
            self._on[key] = {row.code: row for row in self._rows(table) if row.valid_on(day)}
        return self._on[key]

    def latest(self, table: str, day: date) -> dict[str, Any]:
        """Every code the file has ever known → its entry valid on `day`, else its entry nearest before `day`, else
        its first one: records keep codes whose entries have ended (they still read as a name)."""
        key = (table, day)
        if key not in self._latest:
            found: dict[str, Any] = {}
            for row in self._rows(table):
                best = found.get(row.code)
                if best is None or _nearer(row, best, day):
                    found[row.code] = row
            self._latest[key] = found
        return self._latest[key]

    def entry(self, table: str, code: str, day: date) -> Any | None:
        """The entry of `code` valid on `day`; None when it has none that day."""
        return self.on(table, day).get(code)

    def partners(self, day: date) -> tuple[str, ...]:
        return tuple(p.ja for p in self.model.partners if p.valid_on(day))

    def successor(self, code: str, day: date) -> str | None:
        """The division valid on `day` that works the cases of division `code`: itself when it is valid that day,
        else its successor's (followed while each ended); None when the chain ends nowhere valid."""
        seen: set[str] = set()
        current: str | None = code
        while current is not None and current not in seen:
            if self.entry("divisions", current, day) is not None:
                return current
            seen.add(current)
            ended = [d for d in self.model.divisions if d.code == current and d.valid_to is not None and d.valid_to < day]
            current = max(ended, key=lambda d: d.valid_from).successor if ended else None
        return None

    def predecessors(self, code: str, day: date) -> frozenset[str]:
        """The ended divisions whose cases `code` works on `day` (their successor chain reaches `code`)."""
        return frozenset(d.code for d in self.model.divisions if d.code != code and self.successor(d.code, day) == code)

    @cached_property
    def division_codes(self) -> frozenset[str]:
        return frozenset(d.code for d in self.model.divisions)


def _nearer(row: Entry, best: Entry, day: date) -> bool:
    """Whether `row` describes its code on `day` better than `best`: valid that day, else ended latest before it."""
    if best.valid_on(day):
        return False
    if row.valid_on(day):
        return True
    row_before, best_before = row.valid_from <= day, best.valid_from <= day
    if row_before != best_before:
        return row_before
    return row.valid_from > best.valid_from if row_before else row.valid_from < best.valid_from


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.organisation.municipality FILE…`: check municipality files before using them; each good
    one is summed up (its divisions, counters, programs, forums with the 推進会議 among them, and the days its
    organisation changes), a bad one says what is wrong and where, and the status is 2."""
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("使い方 / usage: python -m shared.organisation.municipality FILE…", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            org = load(path)
        except MunicipalityFileError as error:
            print(error, file=sys.stderr)
            status = 2
            continue
        model = org.model
        changes = sorted({d for e in (*model.divisions, *model.counters, *model.programs, *model.forums)
                          for d in _change_days(e)})
        print(
            f"{path}: {org.about.ja} ({org.about.code}) 課 {len(org.division_codes)}、窓口 "
            f"{len({c.code for c in model.counters})}、事業 {len({p.code for p in model.programs})}、"
            f"{_forums_line(model.forums)}、"
            f"組織の変わる日 / reorganisations: {', '.join(map(str, changes)) or 'なし / none'}"
        )
    return status


def _forums_line(forums: list[ForumEntry]) -> str:
    """協議の場: how many (by code: a renamed forum is one) and the 推進会議 among them (each name it has had, in order);
    「協議の場 なし」 for a file written before [[forums]] (its council is named 「推進会議」 on the pages)."""
    if not forums:
        return "協議の場 なし / no forums"
    councils = list(dict.fromkeys(f.ja for f in sorted(forums, key=lambda f: f.valid_from) if f.council))
    return f"協議の場 {len({f.code for f in forums})}（推進会議: {'→'.join(councils)}）"


def _change_days(entry: Entry) -> list[date]:
    days = [entry.valid_from] if entry.valid_from != date.min else []
    return days + ([_next_day(entry.valid_to)] if entry.valid_to is not None and entry.valid_to != date.max else [])


if __name__ == "__main__":
    raise SystemExit(main())
