"""`jusou retention`: the records past their retention period (保存年限), and their erasure at expiry.

The period of each record kind is configuration: a TOML file (`--config FILE`, else
`<data>/retention.toml` when it exists, else the defaults below), in whole years counted from the
day the record was completed (完結: the case closed at the counter, 対応終了, or its plan's 終結):

    [retention]      # 保存年限（年）: from the day the record was completed
    case = 5         # 相談記録: intake's case
    person = 5       # 相談者の個人情報: from the completion of the person's last case

A case still open (受付中, つなぎ中, 連携中…) is never past its period, nor is its person. What is listed:

- `case`: intake's cases completed more than `case` years ago;
- `person`: people all of whose cases were completed more than `person` years ago, not yet erased.

`--erase` erases each listed person through intake's API (`POST /persons/{ref}/erasure`, basis
`retention_expired` 保存期間満了): the existing crypto-shredding deletes the person's key, and
`Person.Erased` records who, when and why in the audit (`jusou audit disclosures PERSON_REF`). It needs
a supervisor's token (`JUSOU_TOKEN`), as `jusou erase` does. The events stay; the other programs'
records carry no personal information (codes and ids only).

The store is read beside the running service (no write, no read model touched): intake's SQLite file
or PostgreSQL schema, as the settings say.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from shared import settings

JAPAN = ZoneInfo("Asia/Tokyo")
DEFAULT_YEARS = {"case": 5, "person": 5}
KIND_JA = {"case": "相談記録", "person": "相談者の個人情報"}
COMPLETED = ("closed", "plan_closed")  # 対応終了 at the counter, or the plan's 終結


class RetentionConfigError(ValueError):
    """A retention file that cannot be used: what is wrong, in Japanese and English."""


@dataclass(frozen=True)
class Past:
    kind: str  # case | person
    ref: str  # case_id | person_ref
    completed_on: str  # YYYY-MM-DD (Japan)
    years: int
    due_on: str  # the first day past the period
    cases: int = 1


def read_config(path: Path | None) -> dict[str, int]:
    """The periods, in years, per record kind: the file's, the defaults for what it leaves out."""
    if path is None:
        return dict(DEFAULT_YEARS)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("retention", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RetentionConfigError(f"保存年限の設定 {path} が読めません: {exc}\ncannot read {path}: {exc}") from None
    unknown = sorted(set(table) - set(DEFAULT_YEARS))
    if unknown:
        raise RetentionConfigError(f"{path}: 知らない記録の種類 {', '.join(unknown)}（{', '.join(DEFAULT_YEARS)} のみ）\n"
                                   f"{path}: unknown record kind(s) {', '.join(unknown)}")
    for kind, years in table.items():
        if not isinstance(years, int) or isinstance(years, bool) or not 0 <= years <= 100:
            raise RetentionConfigError(f"{path}: {kind} = {years!r} は 0〜100 の整数（年）にしてください\n"
                                       f"{path}: {kind} must be a whole number of years, 0 to 100")
    return {**DEFAULT_YEARS, **table}


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year without it
        return day.replace(year=day.year + years, day=28)


def past_records(cases: list[dict[str, Any]], erased: set[str], years: dict[str, int], today: date) -> list[Past]:
    """`cases`: each {case_id, person_ref, status, last_on (date of its last event, Japan)}."""
    found: list[Past] = []
    by_person: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        by_person.setdefault(case["person_ref"], []).append(case)
        if case["status"] in COMPLETED:
            due = add_years(case["last_on"], years["case"])
            if due <= today:
                found.append(Past("case", case["case_id"], case["last_on"].isoformat(), years["case"], due.isoformat()))
    for person_ref, own in sorted(by_person.items()):
        if person_ref in erased or any(c["status"] not in COMPLETED for c in own):
            continue
        last = max(c["last_on"] for c in own)
        due = add_years(last, years["person"])
        if due <= today:
            found.append(Past("person", person_ref, last.isoformat(), years["person"], due.isoformat(), len(own)))
    return found


def intake_cases() -> tuple[list[dict[str, Any]], set[str]]:
    """Every intake case with its person, status and the day (Japan) of its last event; the people erased."""
    from jusou.verify import open_store
    from services.intake.domain import Case, Person

    case_ids: list[UUID] = []
    people: set[UUID] = set()
    rows: list[dict[str, Any]] = []
    erased: set[str] = set()
    with open_store("intake") as app:
        for notification in app.notifications():
            kind = notification.topic.rsplit(":", 1)[-1].split(".", 1)[0]
            if kind == "Case" and notification.topic.endswith("Case.Received"):
                case_ids.append(UUID(str(notification.originator_id)))
            elif kind == "Person":
                people.add(UUID(str(notification.originator_id)))
        for case_id in case_ids:
            case: Any = app.load(case_id, Case, "ケース")
            view = case.view()
            rows.append({"case_id": str(case_id), "person_ref": str(view["person_ref"]), "status": view["status"],
                         "last_on": case.modified_on.astimezone(JAPAN).date()})
        for person_ref in people:
            person: Any = app.load(person_ref, Person, "相談者")
            if person.erased:
                erased.add(str(person_ref))
    return rows, erased


def erase(person_ref: str, years: int) -> tuple[bool, str]:
    """Erase one person through intake's API (crypto-shredding; recorded as Person.Erased)."""
    from jusou.ops import service_urls
    from shared.web.auth import operator_token

    body = json.dumps({"basis": "retention_expired",
                       "reason": f"保存年限（{years} 年）経過 / retention period of {years} years passed"}).encode()
    request = urllib.request.Request(f"{service_urls()['intake']}/persons/{person_ref}/erasure", data=body,
                                     method="POST", headers={"Authorization": f"Bearer {operator_token()}",
                                                             "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return True, str(json.load(response)["erased"]["at"])[:19]
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} {json.loads(exc.read() or b'{}').get('detail', '')}"
    except urllib.error.URLError as exc:
        return False, f"intake に接続できません / cannot reach intake: {exc}"


def retention_command(args: argparse.Namespace) -> int:
    if args.data_dir:
        import os

        os.environ["JUSOU_DATA_DIR"] = args.data_dir
    default = settings.current().data_path / "retention.toml"
    config = Path(args.config) if args.config else (default if default.exists() else None)
    try:
        years = read_config(config)
    except RetentionConfigError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        today = date.fromisoformat(args.as_of) if args.as_of else datetime.now(JAPAN).date()
    except ValueError:
        print(f"--as-of {args.as_of!r}: YYYY-MM-DD の形で / e.g. 2031-04-01", file=sys.stderr)
        return 2
    if args.erase and args.as_of:
        print("--erase は今日の日付でだけ使えます（--as-of とは併用できません）\n--erase works on today's date only, "
              "not with --as-of", file=sys.stderr)
        return 2
    cases, erased = intake_cases()
    found = past_records(cases, erased, years, today)
    results: dict[str, str] = {}
    failed = False
    if args.erase:
        for record in (r for r in found if r.kind == "person"):
            done, said = erase(record.ref, record.years)
            failed |= not done
            results[record.ref] = f"消去しました / erased {said}" if done else f"消去できません / not erased: {said}"
    if args.json:
        print(json.dumps({"as_of": today.isoformat(), "years": years, "config": str(config) if config else None,
                          "past": [asdict(r) | ({"erasure": results[r.ref]} if r.ref in results else {}) for r in found]},
                         ensure_ascii=False, indent=2))
        return 1 if failed else 0
    source = config or "既定 / defaults"
    print(f"保存年限 / retention ({source}): " + ", ".join(f"{KIND_JA[k]} {v} 年" for k, v in years.items())
          + f"; 基準日 / as of {today.isoformat()}")
    if not found:
        print("保存年限を過ぎた記録はありません / no record is past its retention period")
    for record in found:
        line = (f"{KIND_JA[record.kind]:<10} {record.ref}  完結 {record.completed_on}  {record.years} 年  "
                f"期限 {record.due_on}" + (f"  （ケース {record.cases} 件）" if record.kind == "person" else ""))
        print(line + (f"  {results[record.ref]}" if record.ref in results else ""))
    people = sum(1 for r in found if r.kind == "person")
    if people and not args.erase:
        print(f"消去するには / to erase these {people} people: JUSOU_TOKEN=<管理職のトークン> jusou retention --erase")
    return 1 if failed else 0


def register(commands: Any) -> None:
    """Add `retention` to the `jusou` command's subparsers."""
    listed = commands.add_parser("retention", help="records past their retention period (保存年限); --erase erases the people")
    listed.add_argument("--config", metavar="FILE",
                        help="the periods per record kind (TOML [retention]; default <data>/retention.toml, else 5 years)")
    listed.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge as on this day (default: today in Japan)")
    listed.add_argument("--erase", action="store_true",
                        help="erase each person past the period (crypto-shredding, basis retention_expired; a supervisor's "
                             "JUSOU_TOKEN)")
    listed.add_argument("--data-dir", help="the suite's data folder (default: JUSOU_DATA_DIR or ./data)")
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(handler=retention_command)
