"""Division scope (issue 13): which divisions' staff may read a program's record of a case, on plain values.

A record is in a division's scope when the division runs the program, or when the record names the division:
who acted (and whose act upstream caused a policy's event), its primary agency, the agencies it was connected
to or given a role in a plan, and the members of the meetings that took it up. Agencies count by their
division's code (reference.py division_of), never by name. Auditors read every division by design.

Below the kernel (shared/kernel/app.py `case_divisions`, `scoped`); the web policy (shared/web/policy.py)
applies it to a signed-in principal, and shared/domain/access.py refuses what it does not allow.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from shared.organisation.reference import (
    DIVISIONS,
    division_display,
    division_of,
    lead_division,
    organisation,
    programs,
    successor,
    today,
)

#: Roles that read cases in every division (read-only).
ALL_DIVISIONS_ROLES = frozenset({"auditor"})

PROGRAM_KINDS = ("intake", "collaboration", "outreach", "participation", "community")


class _ProgramDivisions(Mapping[str, frozenset[str]]):
    """Which divisions run which program today (the municipality file's programs, reference.py PROGRAMS); the
    meeting is the municipality's lead division's (its `lead_division`, which runs the 推進会議 too). Read when used, so a
    reorganisation takes effect on its date."""

    _cached: tuple[tuple[object, date], dict[str, frozenset[str]]] | None = None

    def _table(self) -> dict[str, frozenset[str]]:
        org, day = organisation(), today()
        cached = self._cached
        if cached is not None and cached[0][0] is org and cached[0][1] == day:  # that very object (an id may be reused)
            return cached[1]
        key = (org, day)
        runs = {
            kind: frozenset(
                successor(p.division) or p.division for p in programs().values() if p.kind == kind and p.division
            )
            for kind in PROGRAM_KINDS
        }
        table = runs | {"meeting": frozenset({lead_division()})}
        self._cached = (key, table)
        return table

    def __getitem__(self, program: str) -> frozenset[str]:
        return self._table()[program]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


PROGRAM_DIVISIONS: Mapping[str, frozenset[str]] = _ProgramDivisions()


def sees_every_division(roles: Collection[str]) -> bool:
    """Whether these roles read cases in every division (ALL_DIVISIONS_ROLES)."""
    return any(role in ALL_DIVISIONS_ROLES for role in roles)


def in_scope(division: str | None, roles: Collection[str], divisions: Collection[str]) -> bool:
    """Whether a member of `division` with `roles` may read a record that `divisions` may read."""
    return sees_every_division(roles) or division in divisions


def divisions_named(row: dict[str, Any]) -> set[str]:
    """The divisions a history row names (shared/kernel/app.py case_divisions): who acted, whose act upstream
    caused it, and the agencies in its fields (primary, つなぎ先, plan roles, meeting members)."""
    found: set[str] = set()
    actor = row.get("actor") or {}
    for division in (actor.get("division"), *(row.get("upstream_divisions") or [])):
        if division in DIVISIONS:
            found.add(division)
    fields = row.get("fields") or {}
    if fields.get("division") in DIVISIONS:  # ConsultationReceived: the counter's division
        found.add(fields["division"])
    agencies = [fields.get("primary_agency"), fields.get("to_agency"), *(fields.get("attendees") or [])]
    agencies += [r.get("agency") for r in fields.get("roles") or [] if isinstance(r, dict)]
    found |= {d for d in map(division_of, [a for a in agencies if isinstance(a, str)]) if d}
    found |= {d for d in fields.get("member_divisions") or [] if d in DIVISIONS}
    return found | successors(found)


def successors(codes: Collection[str]) -> set[str]:
    """The divisions that work today the cases of these (a division that ended hands its cases to its successor:
    issue 18's reorganisation), those still existing included."""
    return {s for s in map(successor, codes) if s}


def visible(
    division: str | None,
    roles: Collection[str],
    rows: list[dict[str, Any]],
    divisions_of: Callable[[UUID], frozenset[str]],
    program: str,
) -> list[dict[str, Any]]:
    """A list's rows (each with a `case_id`) a reader of `division` with `roles` may see: everything for
    the divisions that run the program and for auditors; otherwise only the cases that name theirs.
    No division (nobody signed in): nothing."""
    if division is None:
        return []
    if sees_every_division(roles) or division in PROGRAM_DIVISIONS.get(program, frozenset()):
        return rows
    return [r for r in rows if division in divisions_of(UUID(str(r["case_id"])))]


def division_name(code: str) -> str:
    """A division's Japanese name (and, when it has since been renamed or merged, today's beside it:
    reference.py division_display), its code when it is not one of the municipality's."""
    return division_display(code)
