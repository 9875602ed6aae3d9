"""Who may be named 担当者・副担当 of a case (HC's review, session 22): a staff id typed by hand was recorded whatever it
was, so a slip of the keyboard (`demo-counselr`) left a case in the charge of no one, off every 自分の担当, unseen.

The roster is the development issuer's accounts (`<auth folder>/staff.json`, the tenant's own with a tenants file):
those whose roles write this program's casework (shared/web/policy.py `permits`, D17) and whose division sees the
case (its division scope). Under the city's IdP (`JUSOU_OIDC_ISSUER`) Jusou keeps no list of staff, so no roster is
known and nothing is checked (None). An id off the roster is refused (422 `staff_not_listed`) naming those on it,
unless the request says it means that id (`unlisted`: a colleague not yet given an account); staff already named on
the case (now or before) and the one assigning are always accepted."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from shared.kernel.journey import Invalid
from shared.web.auth import Accounts, Principal, TenantVerifier, verifier
from shared.web.labels import division_label
from shared.web.policy import ROLES, permits

#: how many names a refusal lists (the rest are counted)
NAMED_AT_MOST = 20
#: the longest staff id recorded (AssignIn.staff_id, PlaceIn.in_charge): also once folded, which may lengthen it
STAFF_ID_AT_MOST = 100


class StaffNotListed(Invalid):
    """A 担当者・副担当 naming a staff id that is not on the roster of staff who may hold the case. `offers_unlisted`:
    whether the id may be recorded all the same (`unlisted`): not when it is a staff member who may not hold it."""

    def __init__(self, message: str, offers_unlisted: bool = True) -> None:
        super().__init__(message)
        self.offers_unlisted = offers_unlisted


@dataclass(frozen=True)
class Listed:
    """A staff member who may hold the case: id, division, roles (their Japanese names)."""

    staff_id: str
    division: str
    roles_ja: str


def _accounts(principal: Principal | None) -> Mapping[str, Mapping[str, Any]] | None:
    """The development issuer's accounts of the principal's tenant; None under an IdP (no roster kept here)."""
    checker = verifier()
    if isinstance(checker, TenantVerifier) and principal is not None and principal.tenant:
        checker = checker.of_tenant.get(principal.tenant, checker)
    if not checker.settings.development:
        return None
    return Accounts(checker.settings.folder).all()


def roster(principal: Principal | None, service: str, case_divisions: Collection[str],
           action: str = "casework.write") -> list[Listed] | None:
    """The staff who may hold a case of `service` whose division scope is `case_divisions` (any division of the
    program when empty), by id: those whose roles let them `action` there (a case's casework by default; a place's
    `resource.write` at community); None when no roster is known (the city's IdP, or no account made at all)."""
    accounts = _accounts(principal)
    if not accounts:
        return None
    listed: list[Listed] = []
    for staff_id, account in sorted(accounts.items()):
        roles = frozenset(str(r) for r in account.get("roles", ()))
        division = str(account.get("division", ""))
        holder = Principal(staff_id=staff_id, division=division, roles=roles)
        if permits(holder, action, service) and (not case_divisions or division in case_divisions):
            listed.append(Listed(staff_id, division, "・".join(ROLES[r].ja.split("（")[0] for r in sorted(roles) if r in ROLES)))
    return listed


def account(principal: Principal | None, staff_id: str) -> Listed | None:
    """The account of `staff_id` whatever it may do (None when there is none, or no roster is known)."""
    accounts = _accounts(principal) or {}
    found_id = _same(staff_id, accounts)
    if found_id is None:
        return None
    found, staff_id = accounts[found_id], found_id
    roles = sorted(str(r) for r in found.get("roles", ()))
    return Listed(staff_id, str(found.get("division", "")),
                  "・".join(ROLES[r].ja.split("（")[0] for r in roles if r in ROLES) or "役割なし")


def folded(staff_id: str) -> str:
    """A staff id as the keyboard may give it, folded: full-width letters and digits as ASCII (NFKC: 「ｋｏｕｋｉ－０１２」),
    invisible format characters dropped (a zero-width space pasted inside: 'kouki-0\u200b12' looks like kouki-012),
    the spaces around it dropped."""
    visible = "".join(c for c in unicodedata.normalize("NFKC", staff_id) if unicodedata.category(c) != "Cf")
    return visible.strip()


#: what reads as another character where a staff id is typed or pasted (HB's review): the dashes and the IME's long
#: sound mark (ー) as '-', and the Cyrillic and Greek letters drawn as Latin ones ('demo-counsеlor' with a Cyrillic е)
_LOOKALIKE = str.maketrans({
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u02d7\u30fc\uff70", "-"),
    **dict(zip("аеорсухіјѕԁԛԝɡαονρι", "aeopcyxijsdqwgaovpi")),
    **dict(zip("АВЕКМНОРСТХІЈЅУΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEKMHOPCTXIJSYABEZHIKMNOPTYX")),
})


def lookalike(staff_id: str) -> str:
    """What a staff id looks like (`folded`, then case, dashes and letters of other scripts drawn the same as Latin
    ones made one): two ids that look alike to the staff who read them are the same here."""
    return folded(staff_id).translate(_LOOKALIKE).casefold()


def _same(staff_id: str, known: Collection[str]) -> str | None:
    """The one id of `known` that `staff_id` is: itself, the one it is folded, else the only one it looks like."""
    if staff_id in known:
        return staff_id
    same = [k for k in known if folded(k) == folded(staff_id)]
    if same:
        return same[0]
    alike = {k for k in known if lookalike(k) == lookalike(staff_id)}
    return alike.pop() if len(alike) == 1 else None


def check_listed(staff_id: str, listed: list[Listed] | None, accepted: Collection[str], unlisted: bool,
                 elsewhere: Listed | None = None, what: tuple[str, str] = ("このケース", "this case")) -> str:
    """The id to record: `staff_id`, or the id on the roster (or among `accepted`) it is when folded (`folded`) or
    that it looks like (`lookalike`: case, dashes, Cyrillic or Greek letters). Refuses `staff_id` off the roster
    (`listed`), unless no roster is known, it is one of `accepted` (the one assigning, staff named on the case now or
    before) or the request says it means it (`unlisted`). `unlisted` does not make a staff member who may not hold
    the case (`elsewhere`) its holder: it is for an id that is no one's account yet."""
    if not staff_id:
        return staff_id
    known = [*accepted, *(s.staff_id for s in listed or ())]
    same = _same(staff_id, known)
    if same is not None:
        return same
    if elsewhere is not None and elsewhere.staff_id in known:  # alike to two ids, one of them this account's
        elsewhere = None
    if unlisted and elsewhere is None:  # meant, as typed but for what no one means: full width, invisible characters
        meant = folded(staff_id) or staff_id
        if len(meant) > STAFF_ID_AT_MOST:  # NFKC spells some characters out: 'ﷺ' is 18 letters
            raise Invalid(f"職員番号は{STAFF_ID_AT_MOST}文字以内です。入力された番号は、記号や合字を標準の文字に直すと"
                          f"{len(meant)}文字になります。職員番号を確かめてください / a staff id is at most "
                          f"{STAFF_ID_AT_MOST} characters: the one sent is {len(meant)} once its compatibility "
                          f"characters are spelled out (NFKC): check it")
        return meant
    if listed is None:
        return staff_id
    named = "、".join(f"{s.staff_id}（{s.roles_ja}）" for s in listed[:NAMED_AT_MOST]) or "（いません）"
    named_en = ", ".join(s.staff_id for s in listed[:NAMED_AT_MOST]) or "(none)"
    more = len(listed) - NAMED_AT_MOST
    if elsewhere is not None:  # a staff member, but not one who may hold this case: say why, not "check the id"
        raise StaffNotListed(
            f"職員番号「{staff_id}」（{division_label(elsewhere.division)}・{elsewhere.roles_ja}）は、{what[0]}の担当に"
            f"なれません。担当になれるのは、この事業の記録を書ける役割で、{what[0]}を見られる課の職員です。担当できる"
            f"職員: {named}{f' ほか{more}人' if more > 0 else ''} / {staff_id!r} ({elsewhere.division}) may not hold "
            f"{what[1]}: only staff whose roles write this program's records, of a division that sees it. Those who "
            f"may: {named_en}{f' and {more} more' if more > 0 else ''}", offers_unlisted=False)
    raise StaffNotListed(
        f"職員番号「{staff_id}」は、{what[0]}を担当できる職員に見当たりません。番号を確かめてください。担当できる職員: "
        f"{named}{f' ほか{more}人' if more > 0 else ''}。名簿にない番号のまま記録するときは「名簿にない番号のまま記録する」を"
        f"選んでください / staff id {staff_id!r} is not among the staff who may hold {what[1]}: check it. Those who may: "
        f"{named_en}{f' and {more} more' if more > 0 else ''}. To record an id not on the list, say so "
        f"(the form's 'record this id anyway', or \"unlisted\": true)")


#: a place's 担当職員 (community, D21): who may be named is who may register and close places there
PLACE = ("この拠点", "this place")


def place_in_charge(principal: Principal | None, service: str, staff_id: str, unlisted: bool) -> str:
    """A place's 担当職員 as it is recorded: the id typed (empty: the one registering, as before), checked against the
    staff who may write places at `service` (`resource.write`) as a case's 担当者 is (`check_listed`)."""
    if not staff_id or principal is None or staff_id == principal.staff_id:
        return staff_id
    return check_listed(staff_id, roster(principal, service, (), "resource.write"), {principal.staff_id}, unlisted,
                        account(principal, staff_id), PLACE)
