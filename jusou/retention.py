"""`jusou retention`: the records of every program past their retention period (保存年限), and the erasure at
expiry of the people whose every record is.

The period of each record kind is configuration: a TOML file (`--config FILE`, else `<data>/retention.toml`
when it exists, else the defaults), in whole years counted from the day the record was completed (完結).
The kinds, their defaults and their legal basis are shared/domain/retention.py `KINDS`
(deploy/retention.example.toml lists them):

    [retention]              # 保存年限（年）: from the day the record was completed
    case = 5                 # intake: 相談記録 (対応終了, or its plan's 終結)
    person = 5               # intake: 相談者の個人情報, from the last completion of any program's record of their cases
    collaboration_case = 5   # collaboration: the case, its strands, plan and notes (plan 終結, or returned to intake)
    meeting = 5              # meeting: a sitting's record (names of those present, deliberations), from its last entry
    engagement = 5           # outreach: the engagement (address, contacts, plan), from the hand-over or plan 終結
    support = 5              # participation: the support (needs, placements, plan), from its plan's 終結
    community_case = 5       # community: a case's regional issues and notes, from when every issue is resolved

A record still open is never past its period, nor is the person of a case any program still holds open.
Each program's store is read beside the running service (no write), as the settings say.

`--erase` erases each person listed through intake's `POST /retention/persons/{ref}/erasure`, which judges
the person again on today's date with the data folder's periods (a person not yet past is refused, 409):
the existing crypto-shredding deletes the person's key, and `Person.Erased` (basis `retention_expired`,
保存期間満了) records who, when and why in the audit (`jusou audit disclosures PERSON_REF`). It needs a
supervisor's token (`JUSOU_TOKEN`), as `jusou erase` does. The other programs' records keep no person's
own information under the person's key: they name the case by its id.

The list is the operator's, read from the stores: every division's rows, as an auditor's `GET /retention` shows
them (a supervisor's shows their division's scope only). The erasure is the API's: a person outside the token's
division scope is refused (403) and named as not erased; the judgement is the same on both sides (every
program's records of the person's cases, whoever asks).

On a deployment of many municipalities (issue 18), `--tenant ID` (required there): that tenant's stores, its
`<data_dir>/retention.toml`, and its intake with a token of its own (jusou/tenant.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jusou.tenant import operator_token
from jusou.tenant import option as tenant_option
from shared import settings
from shared.domain.retention import (
    KINDS,
    SERVICES,
    Due,
    PeriodsInvalid,
    PersonDue,
    Record,
    past,
    people,
    people_due,
    read_periods,
    records,
    settle,
)
from shared.domain.wareki import JST


def read_config(path: Path | None) -> dict[str, int]:
    """The periods, in years, per record kind: the file's, the defaults for what it leaves out."""
    if path is None:
        return read_periods(None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PeriodsInvalid(f"保存年限の設定 {path} が読めません: {exc}\ncannot read {path}: {exc}") from None
    return read_periods(text, str(path))


def as_of_day(text: str) -> date | None:
    """The 基準日 as `GET /retention?as_of=` and the staff forms read it (shared/web/dates.py: 令和8年12月6日, R8.12.6,
    2026/12/6, 2026-12-06); None when it is no date."""
    from shared.web.dates import read_day

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return read_day(text)


def suite_records() -> tuple[list[Record], dict[str, list[str]], set[str], list[str]]:
    """Every program's records, intake's people and those erased, and the programs whose store could not be read."""
    from jusou.verify import open_store
    from shared.web.retention_api import steps_of

    found: list[Record] = []
    cases: dict[str, list[str]] = {}
    erased: set[str] = set()
    unread: list[str] = []
    for service in SERVICES:
        try:
            with open_store(service, must_exist=True) as app:
                steps = steps_of(app, service)
        except Exception as exc:  # noqa: BLE001 - a store that cannot be opened is named, the others still read
            unread.append(f"{service}: {type(exc).__name__}: {exc}")
            continue
        found += records(service, steps)
        if service == "intake":
            cases, erased = people(steps)
    return settle(found, found), cases, erased, unread


def listed(found: list[Record], cases: dict[str, list[str]], erased: set[str], years: dict[str, int], today: date,
           people_too: bool) -> list[Due | PersonDue]:
    """The records past their period, every program's in the suite's order, then the people."""
    order = {name: i for i, name in enumerate(SERVICES)}
    records_past = sorted(past(found, years, today), key=lambda d: (order[d.service], d.due_on, d.key))
    rows: list[Due | PersonDue] = list(records_past)
    if people_too:
        rows += people_due(cases, erased, found, years["person"], today)
    return rows


def as_json(row: Due | PersonDue) -> dict[str, Any]:
    if isinstance(row, PersonDue):
        return {"service": "intake", "kind": "person", "ref": row.person_ref, "completed_on": str(row.closed_on),
                "years": row.years, "due_on": str(row.due_on), "cases": len(row.case_ids)}
    return {"service": row.service, "kind": row.kind, "ref": row.key, "completed_on": str(row.closed_on),
            "years": row.years, "due_on": str(row.due_on), "cases": len(row.case_ids)}


def erase(person_ref: str) -> tuple[bool, str]:
    """Erase one person at expiry through intake (judged again there; crypto-shredding; Person.Erased)."""
    from jusou.ops import service_urls

    body = json.dumps({"note": "jusou retention --erase"}).encode()
    request = urllib.request.Request(f"{service_urls()['intake']}/retention/persons/{person_ref}/erasure", data=body,
                                     method="POST", headers={"Authorization": f"Bearer {operator_token()}",
                                                             "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
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
    except PeriodsInvalid as error:
        print(error, file=sys.stderr)
        return 2
    today = as_of_day(args.as_of) if args.as_of else datetime.now(JST).date()
    if today is None:
        print(f"基準日 --as-of 「{args.as_of}」は日付として読めません。2031-04-01、令和13年4月1日、R13.4.1 のように"
              f"指定してください。\n--as-of {args.as_of!r} is not a date: give the day as 2031-04-01, 2031/4/1 or "
              "R13.4.1 (the Reiwa era's year 13)", file=sys.stderr)
        return 2
    if args.erase and args.as_of:
        print("--erase は今日の日付でだけ使えます（--as-of とは併用できません）\n--erase works on today's date only, "
              "not with --as-of", file=sys.stderr)
        return 2
    found, cases, erased, unread = suite_records()
    for problem in unread:
        print(f"読めない記録先 / store not read: {problem}", file=sys.stderr)
    if len(unread) == len(SERVICES):  # a mistyped folder: it said "no record is past its period" with status 0
        print("どの事業の記録も読めませんでした / no program's store was read", file=sys.stderr)
        return 2
    rows = listed(found, cases, erased, years, today, people_too=not unread)
    if unread:
        print("読めない事業があるため、消去できる相談者は挙げません / a program's store was not read: no person is "
              "listed", file=sys.stderr)
    results: dict[str, str] = {}
    failed = bool(unread) and args.erase
    if args.erase:
        for person in (r for r in rows if isinstance(r, PersonDue)):
            done, said = erase(person.person_ref)
            failed |= not done
            results[person.person_ref] = f"消去しました / erased {said}" if done else f"消去できません / not erased: {said}"
    if args.json:
        print(json.dumps({"as_of": today.isoformat(), "years": years, "config": str(config) if config else None,
                          "unread": unread,
                          "past": [as_json(r) | ({"erasure": results[as_json(r)["ref"]]} if as_json(r)["ref"] in results
                                                 else {}) for r in rows]},
                         ensure_ascii=False, indent=2))
        return 1 if failed else 0
    source = config or "既定 / defaults"
    print(f"保存年限 / retention ({source}): " + ", ".join(f"{k} {v} 年" for k, v in years.items())
          + f"; 基準日 / as of {today.isoformat()}")
    if not rows:
        print("保存年限を過ぎた記録はありません / no record is past its retention period")
    for r in rows:
        shown = as_json(r)
        line = (f"{shown['service']:<13} {KINDS[shown['kind']].ja[:18]:<18} {shown['ref']}  完結 {shown['completed_on']}  "
                f"{shown['years']} 年  期限 {shown['due_on']}" + (f"  （ケース {shown['cases']} 件）" if shown["kind"] == "person" else ""))
        print(line + (f"  {results[shown['ref']]}" if shown["ref"] in results else ""))
    count = sum(1 for r in rows if isinstance(r, PersonDue))
    if count and not args.erase:
        print(f"消去するには / to erase these {count} people: JUSOU_TOKEN=<管理職のトークン> jusou retention --erase")
    return 1 if failed else 0


def register(commands: Any) -> None:
    """Add `retention` to the `jusou` command's subparsers."""
    listed_cmd = commands.add_parser("retention", help="every program's records past their retention period (保存年限); "
                                                       "--erase erases the people past theirs")
    listed_cmd.add_argument("--config", metavar="FILE", help="the periods per record kind (TOML [retention]; default "
                                                             "<data>/retention.toml, else 5 years each)")
    listed_cmd.add_argument("--as-of", metavar="DAY", help="judge as on this day (default: today in Japan): 2031-04-01, "
                            "2031/4/1, 令和13年4月1日 or R13.4.1")
    listed_cmd.add_argument("--erase", action="store_true",
                            help="erase each person past the period through intake (judged again there on today's date; "
                                 "crypto-shredding, basis retention_expired; a supervisor's JUSOU_TOKEN)")
    listed_cmd.add_argument("--data-dir", help="the suite's data folder (default: JUSOU_DATA_DIR or ./data)")
    listed_cmd.add_argument("--json", action="store_true")
    tenant_option(listed_cmd, retention_command)
