"""The city's reference data (DOMAIN.md): divisions, the six intake counters, programs and agencies, as data.

Codes are ASCII (they travel in HTTP headers and on the bus); names are Japanese with English
beside. The fuller catalogue (programs, concern fields) grows with the domain issue (#18: the
organisation's data). The old import path, shared.organisation.reference, re-exports it.
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


@dataclass(frozen=True)
class Program:
    """A program (事業) of the source, under one of the five 重層的支援 programs or beside them."""

    code: str
    ja: str
    en: str
    kind: str  # intake | community | collaboration | participation | outreach | related
    division: str | None


PROGRAMS = {p.code: p for p in (
    # 包括的相談支援事業: the six counters
    Program("houkatsu", "地域包括支援センターの運営", "Community General Support Centers", "intake", "elderly-support"),
    Program("shogai-sodan", "障害者相談支援事業", "Disability Consultation Support", "intake", "disability-welfare"),
    Program("riyosha-shien", "利用者支援事業【基本型】", "User Support (basic)", "intake", "children-policy"),
    Program("hoiku-concierge", "保育コンシェルジュ", "Childcare Concierge", "intake", "childcare"),
    Program("yurikago", "ゆりかご調布事業", "Yurikago Chofu", "intake", "health-promotion"),
    Program("life-support", "調布ライフサポート", "Chofu Life Support", "intake", "livelihood-welfare"),
    # 地域づくり事業
    Program("kaigo-yobo", "介護予防普及啓発事業", "Long-term Care Prevention Awareness", "community", "elderly-support"),
    Program("chiiki-reha", "地域リハビリテーション活動支援事業", "Community Rehabilitation Support", "community", "elderly-support"),
    Program("kinryoku-10", "10の筋力トレーニング自主グループ化支援", "Ten Strength Exercises Self-help Groups", "community", "elderly-support"),
    Program("seikatsu-shien", "生活支援体制整備事業", "Daily Living Support System", "community", "elderly-support"),
    Program("chiiki-katsudo", "地域活動支援センター事業", "Community Activity Support Centers", "community", "disability-welfare"),
    Program("sukoyaka", "子ども家庭支援センターすこやか", "Child and Family Support Center Sukoyaka", "community", "children-policy"),
    Program("play-center", "プレイセンターちょうふ", "Play Center Chofu", "community", "children-policy"),
    Program("kosodate-hiroba", "子育てひろば事業（連携型）", "Child-rearing Plazas (linked)", "community", "children-youth"),
    Program("chiiki-zukuri", "地域づくり事業", "Community Building", "community", "welfare-general"),
    # 多機関協働事業
    Program("cswc", "地域福祉コーディネーター事業", "Community Social Work Coordinators", "collaboration", "welfare-general"),
    Program("hokatsuka-kaigi", "相談支援包括化推進会議", "Council for Integrated Consultation Support", "collaboration", "welfare-general"),
    # 参加支援事業
    Program("cswc-sanka", "地域福祉コーディネーター事業（参加支援）", "Community Social Work Coordinators (participation)", "participation", "welfare-general"),
    # アウトリーチ等を通じた継続的支援事業
    Program("outreach", "アウトリーチ等を通じた継続的支援事業", "Continuous Support through Outreach", "outreach", "welfare-general"),
    # 重層的支援体制整備事業の外で連携する支援
    Program("ibasho", "居場所づくり", "Places to Belong", "related", None),
    Program("shuro", "就労支援", "Employment Support", "related", None),
    Program("jukyo", "住居支援", "Housing Support", "related", None),
)}


@dataclass(frozen=True)
class ConcernField:
    """相談内容の分野 (D2)."""

    code: str
    ja: str
    en: str


CONCERN_FIELDS = {c.code: c for c in (
    ConcernField("elderly-care", "高齢・介護", "Older people and long-term care"),
    ConcernField("disability", "障害", "Disability"),
    ConcernField("child-rearing", "子育て", "Child-rearing"),
    ConcernField("childcare", "保育", "Childcare"),
    ConcernField("pregnancy", "妊娠・出産", "Pregnancy and birth"),
    ConcernField("poverty", "生活困窮", "Hardship"),
    ConcernField("housing", "住まい", "Housing"),
    ConcernField("employment", "就労", "Employment"),
    ConcernField("hikikomori", "ひきこもり", "Social withdrawal (hikikomori)"),
    ConcernField("mental-health", "精神保健", "Mental health"),
    ConcernField("debt", "家計・債務", "Household finances and debt"),
    ConcernField("abuse", "虐待・DV", "Abuse and domestic violence"),
    ConcernField("young-carer", "ヤングケアラー", "Young carers"),
    ConcernField("health", "健康", "Health"),
    ConcernField("isolation", "孤立・孤独", "Isolation and loneliness"),
    ConcernField("other", "その他", "Other"),
)}


#: Partners outside the city's divisions that take roles in plans and sit in meetings.
PARTNERS = (
    "調布市社会福祉協議会",
    "民生委員・児童委員",
    "ハローワーク府中",
    "調布市地域生活支援センター",
    "子ども家庭支援センター",
    "保健所（多摩府中保健所）",
    "医療機関",
    "居宅介護支援事業所",
    "障害福祉サービス事業所",
    "若者サポートステーション",
    "NPO法人",
)


def agencies() -> set[str]:
    """Every agency a plan role or a meeting attendee may name (D4, D5): divisions, counters, programs, partners."""
    names = {d.ja for d in DIVISIONS.values()} | {c.ja for c in COUNTERS.values()}
    names |= {p.ja for p in PROGRAMS.values() if p.kind != "related"}
    return names | set(PARTNERS)


def division_of(agency: str) -> str | None:
    """The city division behind an agency name (a division, a counter or a program it runs); None for a
    partner outside the city (D4, D10, D11: membership and scope compare these codes, never names)."""
    for d in DIVISIONS.values():
        if d.ja == agency or d.code == agency:
            return d.code
    for c in COUNTERS.values():
        if c.ja == agency or c.code == agency:
            return c.division
    for p in PROGRAMS.values():
        if p.ja == agency or p.code == agency:
            return p.division
    return None


def member_divisions(agencies: list[str]) -> frozenset[str]:
    """The city's divisions among a sitting's attendees (or a plan's role agencies), as codes."""
    return frozenset(d for d in map(division_of, agencies) if d)


def unknown_agencies(names: list[str]) -> list[str]:
    known = agencies()
    return [n for n in names if n not in known]


@dataclass(frozen=True)
class ResourceKind:
    """社会資源の種類 (D8 D13): what community develops and participation matches."""

    code: str
    ja: str
    en: str


RESOURCE_KINDS = {k.code: k for k in (
    ResourceKind("ibasho", "居場所", "Place to belong"),
    ResourceKind("shuro", "就労支援", "Employment support"),
    ResourceKind("jukyo", "住居支援", "Housing support"),
    ResourceKind("other", "その他", "Other"),
)}


def resource_kind(value: str) -> ResourceKind | None:
    """The kind named by its code or its Japanese name (`ibasho` or `居場所`); None when unknown."""
    value = value.strip()
    return RESOURCE_KINDS.get(value) or next((k for k in RESOURCE_KINDS.values() if k.ja == value), None)


def concern_field(value: str) -> ConcernField | None:
    """A concern field by its code or its Japanese name (D2)."""
    return CONCERN_FIELDS.get(value) or next((c for c in CONCERN_FIELDS.values() if c.ja == value), None)


# Each service's title (its UI header, its OpenAPI and AsyncAPI documents).
DIVISION_TITLES = {
    "intake": "包括的相談支援事業 (Intake)",
    "collaboration": "多機関協働事業 (Collaboration)",
    "meeting": "重層的支援会議・支援会議 (Meeting)",
    "outreach": "アウトリーチ等を通じた継続的支援事業 (Outreach)",
    "participation": "参加支援事業 (Participation)",
    "community": "地域づくり事業 (Community)",
}
