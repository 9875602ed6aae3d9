"""Refusals of the policy and of the division scope, as domain errors any layer from here up may raise.

The rules themselves are below the kernel (shared/organisation/scope.py); these are the errors that say
no (403, marked as the policy's or the scope's in a header), so that a service's own access checks
(services/intake/access.py) and the web policy (shared/web/policy.py) refuse alike.
"""

from __future__ import annotations

from collections.abc import Collection

from shared.kernel.journey import DomainError
from shared.organisation.scope import division_name, in_scope


class Forbidden(DomainError):
    """Refused by the policy (not by a domain rule): 403, marked so in a header."""

    status = 403
    headers = {"X-Jusou-Refused-By": "policy"}


class OutOfScope(Forbidden):
    """The role may take the action, but the record is not its division's (division scope): 403."""

    headers = {"X-Jusou-Refused-By": "scope"}


def require_in_scope(division: str, roles: Collection[str], divisions: Collection[str], what: str = "このケース",
                     holders: Collection[str] = ()) -> None:
    """Refuses (OutOfScope) a member of `division` with `roles` a record that `divisions` may read;
    the message names `holders`, the divisions that hold the record (whom to ask), when given."""
    if in_scope(division, roles, divisions):
        return
    held = f"{'、'.join(division_name(d) for d in sorted(holders))}の記録で、" if holders else ""
    ask = "その課" if holders else "ケースを受け付けた課"
    raise OutOfScope(
        f"{what}は{held}{division_name(division)}"
        f"にはつながっていません。閲覧・記録できません。関わる必要があれば、{ask}にこのケースのつなぎ（連携）を依頼してください"
        " / this case is not connected to your division (division scope: who received it, its primary agency, "
        "connections, plan roles, meeting members): to work on it, ask the division holding it to connect the case "
        "to yours")
