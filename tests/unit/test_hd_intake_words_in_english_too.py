"""The counter's pages say each field and button in Japanese with English beside it, as every other page does (the
suite's rule for staff-facing text; HD's review as staff): the escalation's 「理由（複雑化・複合化）」 and its button
「多機関協働事業へつなぐ」, a connection's answer (理由, 受け入れ, 辞退), the household's 続柄 and 「世帯から外す」, and
the reception's ふりがな had no English. Read from intake's templates: the text of every <label> before its field, and of
every button."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "intake" / "templates"
#: a label's own text before its field, and a button's text (no template code inside)
WORDS = re.compile(r"<label for=\"[^\"]+\">([^<{]+)<(?:input|textarea|select)|<button[^>]*>([^<{]+)</button>")


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_label_and_button_of_the_counters_pages_has_its_english(template: str) -> None:
    words = [(a or b).strip() for a, b in WORDS.findall((TEMPLATES / template).read_text(encoding="utf-8"))]
    assert [w for w in words if w and " / " not in w and "/" not in w] == [], template
