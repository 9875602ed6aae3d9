"""The office's words for what the pages show (issue 15: pages that speak the office's language).

No page, list or CSV shows a rule code (D2, D12…), an action name (`audit.read`), a route
(`GET /reference/agencies`) or an English event name (`Case.Received`): the pages name events,
records, divisions and decisions by these labels. The rule a message keeps may stay in a tooltip
(`split_rule_codes` moves it out of the text); `OFFICE_LANGUAGE` is what tests look for.
"""

from __future__ import annotations

import re

from shared.domain.labels import (
    BASIS_LABELS,
    DECISION_LABELS,
    EVENT_LABELS,
    FIELD_LABELS,
    KIND_LABELS,
    MEETING_TYPE_LABELS,
    PROGRAM_LABELS,
    UNKNOWN_EVENT,
    VALUE_LABELS,
    division_label,
    event_label,
    kind_label,
    program_label,
)

__all__ = [
    "BASIS_LABELS",
    "DECISION_LABELS",
    "EVENT_LABELS",
    "EVENT_NAME",
    "FIELD_LABELS",
    "KIND_LABELS",
    "MEETING_TYPE_LABELS",
    "PROGRAM_LABELS",
    "ROUTE",
    "RULE_CODE",
    "UNKNOWN_EVENT",
    "VALUE_LABELS",
    "division_label",
    "event_label",
    "kind_label",
    "program_label",
    "split_rule_codes",
]

#: What a page must not show (tests/ui/test_office_language.py): rule codes, routes, English event names.
RULE_CODE = re.compile(r"\bD\d{1,2}\b")
ROUTE = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\s+/")
EVENT_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*\.[A-Z][a-z]+(?:[A-Z][a-z]+)*\b")
#: a rule named in a message, with what surrounds it: 「（D9）」, 「(D4, D12)」, 「D9: 」
_CODES_IN_TEXT = re.compile(r"\s*[（(]\s*D\d{1,2}(?:\s*[、,・/]\s*D\d{1,2})*\s*[）)]|\bD\d{1,2}(?:\s*[、,・/]\s*D\d{1,2})*\s*[:：]\s*"
                            r"|\s*\bD\d{1,2}\b")


def split_rule_codes(text: str) -> tuple[str, str]:
    """A message without the rule codes it names, and those codes (for a tooltip): 「…できません（D9）」
    → (「…できません」, "D9")."""
    codes = RULE_CODE.findall(text)
    return _CODES_IN_TEXT.sub("", text).strip(), "、".join(dict.fromkeys(codes))
