"""The contract's texts refuse what the HTTP edge refuses in every text staff send: control characters (but tab and
line breaks) and Unicode's bidirectional controls. A CaseEscalated whose reason held `ESC ]8;;http://evil…` and U+202E
was applied by collaboration and stored (the attacker's review, session 20, with intake's NATS password); no Jusou
producer sends such a text. The consumer's reader (`read`) now parks it at once with its reason (Japanese in
`jusou deadletters`); the envelope's `actor` is left as the IdP wrote it."""

from __future__ import annotations

import pytest
from test_poison_bodies import body_of, envelope

from shared.contract.events import PoisonMessage, parse
from shared.messaging.reading import read
from shared.messaging.reasons import japanese

FORGED = {
    "osc-8 link": "理由\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "right-to-left override": "理由\u202eRTL",
    "csi colour": "\x1b[31m赤",
    "c1 control": "理由\x9b2J",
    "arabic letter mark": "理由\u061c",
    "left-to-right isolate": "\u2066理由\u2069",
    "del": "理由\x7f",
}


@pytest.mark.parametrize("kind", list(FORGED))
@pytest.mark.parametrize("ascii_only", [False, True])
def test_contract_a_control_or_bidi_character_in_a_payload_text_is_poison_with_its_reason(kind: str,
                                                                                          ascii_only: bool) -> None:
    text = FORGED[kind]
    for payload in ({"reason": text, "concerns": ["ひきこもり"], "primary_agency": "地域包括支援センター"},
                    {"reason": "r", "concerns": ["ひきこもり", text], "primary_agency": "地域包括支援センター"}):
        body = body_of(envelope(payload=payload), ensure_ascii=ascii_only)
        parse(body)  # the contract's models take it: the reader is what refuses
        with pytest.raises(PoisonMessage) as refused:
            read(body)
        reason = refused.value.reason
        assert "payload." in reason and "which no Jusou producer sends" in reason, reason
        assert japanese(reason) is not None and "偽のメッセージ" in (japanese(reason) or ""), reason


def test_contract_real_texts_with_line_breaks_tabs_and_punctuation_are_read() -> None:
    for text in ("複合的な課題…", "一行目\n二行目\t続き\r\n", "“引用” — ダッシュ ‘と’ ℃ ×", "°§±"):
        payload = {"reason": text, "concerns": ["ひきこもり"], "primary_agency": "地域包括支援センター"}
        for ascii_only in (False, True):
            body = body_of(envelope(payload=payload), ensure_ascii=ascii_only)
            assert read(body) == parse(body)


def test_contract_the_actor_is_left_as_the_idp_wrote_it() -> None:
    body = body_of(envelope(actor={"staff_id": "s-001", "division": "elderly-support", "name": "\u200f名前"}))
    assert read(body) == parse(body)
