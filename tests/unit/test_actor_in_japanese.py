"""Who recorded a step, as the pages name it: the staff member's id, or the program that acted on its own, in Japanese
(「自動（アウトリーチ）」, never the service's code 「自動（outreach）」)."""

from __future__ import annotations

from types import SimpleNamespace

from shared.domain.casework_owner import _actor_name
from shared.kernel.journey import actor_label


def test_a_program_s_own_act_is_named_in_japanese() -> None:
    assert actor_label({"service": "outreach"}) == "自動（アウトリーチ）"
    assert actor_label({"service": "meeting", "staff_id": "kaigi-001"}) == "kaigi-001"
    assert actor_label({}) == ""
    assert _actor_name(SimpleNamespace(meta={"actor": {"service": "participation"}})) == "自動（参加支援）"
