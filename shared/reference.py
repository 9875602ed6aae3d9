"""The city's reference data (DOMAIN.md): divisions and the six intake counters, as data.

Codes are ASCII (they travel in HTTP headers and on the bus); names are Japanese with English
beside. The fuller catalogue (programs, concern fields) grows with the domain issue.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Division:
    code: str
    ja: str
    en: str


@dataclass(frozen=True)
class Counter:
    """One of the six intake counters (相談窓口) and the division it belongs to (D2)."""

    code: str
    ja: str
    en: str
    division: str


DIVISIONS = {d.code: d for d in (
    Division("welfare-general", "福祉総務課", "Welfare General Affairs"),
    Division("elderly-support", "高齢者支援室", "Elderly Support Office"),
    Division("disability-welfare", "障害福祉課", "Disability Welfare"),
    Division("children-policy", "子ども政策課", "Children Policy"),
    Division("childcare", "保育課", "Childcare"),
    Division("health-promotion", "健康推進課", "Health Promotion"),
    Division("livelihood-welfare", "生活福祉課", "Livelihood Welfare"),
    Division("children-youth", "児童青少年課", "Children and Youth"),
)}

COUNTERS = {c.code: c for c in (
    Counter("houkatsu", "地域包括支援センター", "Community General Support Center", "elderly-support"),
    Counter("shogai-sodan", "障害者相談支援事業", "Disability Consultation Support", "disability-welfare"),
    Counter("riyosha-shien", "利用者支援事業【基本型】", "User Support (basic)", "children-policy"),
    Counter("hoiku-concierge", "保育コンシェルジュ", "Childcare Concierge", "childcare"),
    Counter("yurikago", "ゆりかご調布事業", "Yurikago Chofu (pregnancy and birth)", "health-promotion"),
    Counter("life-support", "調布ライフサポート", "Chofu Life Support", "livelihood-welfare"),
)}
