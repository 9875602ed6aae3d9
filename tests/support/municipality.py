"""The municipality the tests run against, by role (issue 18): every division, counter, concern field and partner a
test names comes from the municipality file in force, never from a literal, so the same tests run on any file.

The file: `JUSOU_TEST_MUNICIPALITY` (a shipped file's name, `kakushi`, or a path), which this module puts in
`JUSOU_MUNICIPALITY_FILE` for every suite the tests start; else `JUSOU_MUNICIPALITY_FILE`; else Chofu's. It is
imported first (tests/support/auth.py, which tests/conftest.py imports before anything else).

Roles, not codes: `ELDERLY` is the counter whose `fields` (municipality file, `[[counters]] fields`) name
`elderly-care` (e.g. Chofu's 地域包括支援センター `houkatsu` of 高齢者支援室; 架空市: `houkatsu-center` of 高齢福祉課), `LEAD` the
division running the 重層 secretariat (`[municipality] lead_division`), `partner("shakyo")` the 社会福祉協議会 (partner
codes name the kind of partner, the same in every shipped file), `concern("elderly-care")` the field's name.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.organisation import reference
from shared.organisation.municipality import DATA, DEFAULT_FILE
from shared.organisation.reference import Counter, Program

TEST_VARIABLE = "JUSOU_TEST_MUNICIPALITY"


def chosen_file() -> Path:
    """The file the tests run on (see the module's docstring)."""
    name = os.environ.get(TEST_VARIABLE, "").strip()
    if name:
        return (DATA / f"{name}.toml" if "/" not in name and not name.endswith(".toml") else Path(name)).resolve()
    configured = os.environ.get(reference.VARIABLE, "").strip()
    return Path(configured).resolve() if configured else DEFAULT_FILE


FILE = chosen_file()
if os.environ.get(TEST_VARIABLE, "").strip():
    os.environ[reference.VARIABLE] = str(FILE)  # every suite the tests start inherits it
IS_DEFAULT = FILE == DEFAULT_FILE.resolve()
ABOUT = reference.municipality()
CITY = ABOUT.ja  # 調布市, 架空市


def counter_for(field: str) -> Counter:
    """The counter valid today that mainly takes concern field `field` (its `fields` name it; the one naming it
    first wins). Fails naming the file when there is none: the tests need one per role they use."""
    found = [c for c in reference.counters().values() if field in c.fields]
    if not found:
        raise LookupError(f"{FILE.name}: no counter takes concern field {field!r} ([[counters]] fields)")
    return min(found, key=lambda c: c.fields.index(field))


def concern(code: str) -> str:
    """The name of concern field `code` (what a form and a request send)."""
    return reference.CONCERN_FIELDS[code].ja


def partner(code: str) -> str:
    """The name of the partner of kind `code` (`shakyo`: the 社会福祉協議会)."""
    return reference.partner_entries()[code].ja


def division_name(code: str) -> str:
    return reference.DIVISIONS[code].ja


def program_of(kind: str, division: str | None = None) -> Program:
    """The first program valid today of `kind` (`community`, `intake`, `participation` …), of `division` when given
    (Chofu's first community program: 介護予防普及啓発事業 `kaigo-yobo` of 高齢者支援室)."""
    found = [p for p in reference.programs().values() if p.kind == kind and division in (None, p.division)]
    if not found:
        raise LookupError(f"{FILE.name}: no {kind} program{f' of {division}' if division else ''} ([[programs]] kind)")
    return found[0]


def resource_kind(code: str) -> str:
    """The name of resource kind `code` (`ibasho`, `shuro`, `jukyo`, `other`: the same codes in every file)."""
    return reference.RESOURCE_KINDS[code].ja


def referral_source(code: str) -> str:
    """The name of referral source `code` (`jichikai`: 自治会・町内会 in Chofu's file, 自治会 in 架空市's)."""
    return reference.REFERRAL_SOURCES[code].ja


def area(index: int = 0) -> reference.Area:
    """The `index`-th 地区 valid today (the file's order)."""
    return list(reference.areas().values())[index]


def division_without_counter() -> str:
    """A division with no intake counter today (its counselor-role staff cannot receive a consultation)."""
    with_counter = {c.division for c in reference.counters().values()}
    return next(code for code in reference.divisions() if code not in with_counter)


#: The 重層 secretariat's division (e.g. Chofu's 福祉総務課 `welfare-general`): coordinators, the meeting, outreach,
#: participation and community staff sit here in the tests.
LEAD = reference.lead_division()
LEAD_NAME = division_name(LEAD)
ELDERLY = counter_for("elderly-care")  # 地域包括支援センター
DISABILITY = counter_for("disability")
CHILDCARE = counter_for("childcare")
HARDSHIP = counter_for("poverty")  # 生活困窮者自立相談支援
SHAKYO = partner("shakyo")  # 社会福祉協議会
