"""The old import path of the city's reference data, now shared/organisation/reference.py (below the
kernel, so that the division scope can use it there): the services keep importing it from here."""

from shared.organisation.reference import (
    CONCERN_FIELDS,
    COUNTERS,
    DIVISION_TITLES,
    DIVISIONS,
    PARTNERS,
    PROGRAMS,
    RESOURCE_KINDS,
    ConcernField,
    Counter,
    Division,
    Program,
    ResourceKind,
    agencies,
    concern_field,
    division_of,
    member_divisions,
    resource_kind,
    unknown_agencies,
)

__all__ = [
    "CONCERN_FIELDS", "COUNTERS", "DIVISIONS", "DIVISION_TITLES", "PARTNERS", "PROGRAMS", "RESOURCE_KINDS",
    "ConcernField", "Counter", "Division", "Program", "ResourceKind", "agencies", "concern_field", "division_of",
    "member_divisions", "resource_kind", "unknown_agencies",
]
