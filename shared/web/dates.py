"""Dates as staff type them (和暦 or Western), as pydantic types for command models (issue 15).

`WarekiBirthDate` (1900-01-01 to today) and `ConsultationDate` (a year back to today) read 令和8年12月5日,
R8.12.5, 平成元年, S35-2-3, 2026-12-05 or 2026/12/5 (shared/domain/wareki.py parse_date) and hold the ISO
text; a refusal is the parser's Japanese message (a form names the field by its title)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from shared.domain.wareki import parse_birth_date, parse_consultation_date


def _birth(text: str) -> str:
    return parse_birth_date(text).isoformat()


def _consulted(text: str) -> str:
    return parse_consultation_date(text).isoformat()


_HOW = "和暦（令和8年12月5日, R8.12.5, 平成元年）または西暦（2026-12-05, 2026/12/5）"
WarekiBirthDate = Annotated[str, Field(max_length=40, description="生年月日: " + _HOW + "; 1900-01-01 から今日まで"),
                            AfterValidator(_birth)]
ConsultationDate = Annotated[str, Field(max_length=40, description="相談日: " + _HOW + "; 1年前から今日まで"),
                             AfterValidator(_consulted)]
