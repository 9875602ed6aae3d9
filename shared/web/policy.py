"""Who may do what: the authorization policy of the whole suite, in one place.

- `ROLES`: the staff roles (with their Japanese names) and the actions each may take;
- each route declares the action it needs where it is defined: `dependencies=[requires("plan.read")]`,
  or `public()` for a route that needs no token; a route that declares neither is refused (fail
  closed). `actions(api)` reads an app's table back from its routes; the OpenAPI document shows
  each operation's action as `x-jusou-action`;
- `PROGRAM_DIVISIONS` (shared/organisation/scope.py): which divisions run which program (DOMAIN.md): changing a program's record
  (any action but a read) needs a division that runs it;
- the division scope of every route that names a case, a plan, a person or a meeting: the rules, on plain
  values, are below the kernel (shared/organisation/scope.py), the refusals in shared/domain/access.py;
  here they are applied to the signed-in principal.

`gate(service)` is the dependency every app runs before its routes (shared/web/http.py). The domain's
own rules (D9 consent, D10 支援会議 membership) stay a second gate behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from shared.domain.access import Forbidden, require_in_scope
from shared.kernel import decoded_once
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import NotFound
from shared.kernel.threads import run_sync
from shared.organisation import scope
from shared.organisation.reference import DIVISIONS
from shared.organisation.scope import PROGRAM_DIVISIONS
from shared.web.auth import COOKIE, Principal, Unauthenticated, bearer, verifier
from shared.web.deps import runtime_of


@dataclass(frozen=True)
class Role:
    """A staff role: its names and the actions (what routes declare with `requires`) it may take."""

    code: str
    ja: str
    en: str
    actions: frozenset[str]


READS = frozenset({
    "intake.case.read", "referral.read", "trend.read", "case.history",
    "collaboration.case.read", "plan.read", "meeting.agenda.read", "meeting.consents.read", "meeting.read",
    "engagement.read", "support.read", "catalogue.read", "issue.read", "resource.read", "casework.read",
    "council.read",
})
#: 担当者 and 支援経過記録 (issue 15, shared/web/casework_api.py): each program's staff keep their cases' records;
#: 管理職 see the caseload per staff member.
CASEWORK = frozenset({"casework.read", "casework.write"})
EVERYONE = frozenset({"ui.open", "log.read", "reference.read"})
AUDIT = frozenset({"audit.read", "audit.disclosures"})
#: The city's figures (事業目標・評価指標, shared/web/figures_api.py): counts only, small cells suppressed.
FIGURES = frozenset({"figures.read"})

ROLES = {r.code: r for r in (
    Role("counselor", "相談員（包括的相談支援の窓口）", "counter counselor (intake)", EVERYONE | CASEWORK | {
        "consultation.receive", "intake.case.read", "intake.case.write", "connection.answer", "person.search",
        "person.read", "referral.read", "trend.read", "case.history", "meeting.read", "catalogue.read"}),
    Role("coordinator", "多機関協働・相談支援包括化推進員", "collaboration coordinator", EVERYONE | CASEWORK | FIGURES | {
        "collaboration.strand.write", "council.read", "council.gap.refer", "council.convene",
        "collaboration.case.read", "collaboration.plan.write", "plan.read", "intake.case.read", "connection.answer",
        "person.read", "trend.read", "case.history", "meeting.agenda.read", "meeting.read", "engagement.read",
        "support.read", "catalogue.read", "issue.read", "resource.read"}),
    Role("secretariat", "会議事務局", "meeting secretariat", EVERYONE | CASEWORK | {
        "meeting.agenda.read", "meeting.consents.read", "meeting.read", "meeting.convene", "meeting.decide",
        "meeting.evaluate", "meeting.gap", "plan.read", "collaboration.case.read", "person.read", "case.history",
        "issue.read", "council.read"}),
    Role("outreach_worker", "アウトリーチ支援員", "outreach worker", EVERYONE | CASEWORK | {
        "engagement.read", "engagement.write", "outreach.plan.write", "plan.read", "referral.read", "case.history",
        "meeting.read", "catalogue.read"}),
    Role("participation_worker", "参加支援員", "participation worker", EVERYONE | CASEWORK | {
        "support.read", "support.write", "participation.plan.write", "plan.read", "catalogue.read", "resource.read",
        "case.history", "meeting.read"}),
    Role("community_worker", "地域づくり担当", "community worker", EVERYONE | CASEWORK | {
        "issue.read", "issue.write", "resource.read", "resource.write", "catalogue.read"}),
    Role("welfare_coordinator", "地域福祉コーディネーター", "community social work coordinator (CSW)", EVERYONE | CASEWORK | {
        "collaboration.case.read", "collaboration.strand.write", "plan.read", "council.read", "council.gap.refer",
        "support.read", "support.write", "catalogue.read", "resource.read", "issue.read", "issue.write",
        "engagement.read", "meeting.read", "case.history", "trend.read"}),
    Role("supervisor", "管理職", "supervisor", EVERYONE | READS | AUDIT | FIGURES | {"person.read", "person.erase",
                                                                     "casework.caseload.read"}),
    Role("auditor", "監査", "auditor (read-only, every division)", EVERYONE | READS | AUDIT | FIGURES),
    Role("operator", "運用", "operator", EVERYONE),
)}
PUBLIC = "public"  # what a route that needs no token declares (`public()`)


@dataclass(frozen=True)
class Requires:
    """What a route declares it needs, where it is defined: an action of ROLES, or PUBLIC.

    The gate (an app-wide dependency, run before the route's own) reads it from the matched route;
    as the route's dependency it checks that the gate let this request through for this very action,
    so a router mounted on an app without the gate is refused rather than open."""

    action: str

    async def __call__(self, request: Request) -> None:
        if self.action != PUBLIC and getattr(request.state, "authorized", None) != self.action:
            raise Forbidden(f"この操作 ({self.action}) は権限の確認を経ていません / the policy's gate did not run: refused")


def gate_checked(dependencies: list[Any]) -> list[Any]:
    """Of a route's dependencies (FastAPI's dependants, in order) on an app whose app-wide admission runs the gate
    (shared/web/http.py `create_service`), those still solved per request: a route that declares one action leaves
    its `Requires` out, since the gate has checked that very action (`declared`) before the route's dependencies
    run, or refused (issue 19: a dependency FastAPI solves costs about 5 µs). A route that declares none, or two
    different ones, keeps them: refused as before."""
    actions = {d.call.action for d in dependencies if isinstance(d.call, Requires)}
    if len(actions) != 1:
        return dependencies
    return [d for d in dependencies if not isinstance(d.call, Requires)]


def requires(action: str) -> Any:
    """`dependencies=[requires("plan.read")]`: the action a route needs (the OpenAPI shows it as x-jusou-action)."""
    return Depends(Requires(action))


def public() -> Any:
    """`dependencies=[public()]`: a route anyone may call (sign-in, health, metrics)."""
    return Depends(Requires(PUBLIC))


def declared(route: Any) -> str | None:
    """The action a route declares (`requires`/`public`), None when it declares none (refused)."""
    found = [d.dependency.action for d in getattr(route, "dependencies", ()) if isinstance(d.dependency, Requires)]
    return found[-1] if found else None


def program_of(action: str, service: str) -> str | None:
    """The program whose record an action changes (None for reads): its divisions must run it."""
    if action.endswith(".read") or action in EVERYONE | AUDIT | {"case.history", "person.search"}:
        return None
    if action in ("person.read", "person.erase", "connection.answer"):
        return None  # D9 D10 decide disclosure; an answer comes from the agency connected to
    return service


#: D17: a program's 担当者・支援経過記録 are part of its case record. Reading them at a service needs reading that
#: program's cases; writing them (a note, an assignment) needs that program's own write. (Every role has CASEWORK,
#: for its own program; without this a 地域づくり担当 read intake's notes of a case it may not open.)
CASEWORK_NEEDS: dict[str, tuple[str, str]] = {
    "intake": ("intake.case.read", "intake.case.write"),
    "collaboration": ("collaboration.case.read", "collaboration.strand.write"),
    "outreach": ("engagement.read", "engagement.write"),
    "participation": ("support.read", "support.write"),
    "community": ("issue.read", "issue.write"),
}


def allowed(principal: Principal, action: str, service: str | None = None) -> bool:
    """Whether the principal's roles allow `action` (at `service`: the casework actions follow its program, D17)."""
    actions = [ROLES[r].actions for r in principal.roles if r in ROLES]
    if not any(action in held for held in actions):
        return False
    if service in CASEWORK_NEEDS and action in CASEWORK:
        need = CASEWORK_NEEDS[service][action == "casework.write"]
        return any(need in held for held in actions)
    return True


def permits(principal: Principal | None, action: str, service: str) -> bool:
    """What the gate would let `principal` do at `service` (the UI shows only the forms it may use)."""
    if principal is None or not allowed(principal, action, service):
        return False
    program = program_of(action, service)
    return program is None or principal.division in PROGRAM_DIVISIONS[program]


def reads_every_division(principal: Principal) -> bool:
    """Whether the principal reads cases in every division (auditors)."""
    return scope.sees_every_division(principal.roles)


def require_scope(principal: Principal, divisions: frozenset[str], what: str = "このケース",
                  holders: frozenset[str] = frozenset()) -> None:
    """Division scope of a program's record: refuses (OutOfScope) a principal whose division it does not
    name; the refusal names `holders` (whom to ask) when given."""
    require_in_scope(principal.division, principal.roles, divisions, what, holders)


class SignInRequired(Exception):
    """A /ui page without a signed-in staff member: back to the sign-in page (then here again)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def principal_of(request: Request) -> Principal | None:
    """The signed-in principal: the bearer token, else (on a /ui/ page only: the JSON API never takes
    it, so a page of another site cannot use a browser's cookie there) the UI's cookie; None when neither."""
    token = bearer(request.headers.get("authorization", "")) or (
        request.cookies.get(COOKIE) if request.url.path.startswith("/ui/") else None)
    if not token:
        return None
    return verifier().verify(token)


def roles_named(roles: Iterable[str]) -> tuple[str, str]:
    """A principal's roles as a refusal names them, the same in both halves (Japanese, English): Jusou's roles by their
    names, and roles Jusou does not know (an IdP's own, a typo) said to grant nothing: before, `["root"]` read
    （なし） in the Japanese half and (root) in the English one (the review from outside, session 21)."""
    known = sorted(r for r in roles if r in ROLES)
    unknown = sorted(r for r in roles if r not in ROLES)
    ja, en = "、".join(ROLES[r].ja for r in known) or "なし", ", ".join(known) or "none"
    if unknown:  # shown as written (cut, escaped by repr): a token's text, never markup or a line of its own
        listed = ", ".join(repr(r[:40]) for r in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        ja += f"。{listed} は Jusou の役割ではなく、権限になりません"
        en += f"; {listed}: not Jusou roles, which grant nothing"
    return ja, en


def gate(service: str) -> Callable[[Request], Awaitable[None]]:
    """The dependency that checks every request against the policy."""

    async def authorize(request: Request) -> None:
        route = request.scope.get("route")
        path: str = route.path if route is not None and hasattr(route, "path") else request.url.path  # (no URL made)
        method = request.method if request.method != "HEAD" else "GET"
        action = declared(route)
        if action == PUBLIC:
            try:
                request.state.principal = principal_of(request)  # who is signed in, for the page
            except Unauthenticated:
                request.state.principal = None
            return
        try:
            principal = principal_of(request)
        except Unauthenticated as exc:
            if path.startswith("/ui/"):
                raise SignInRequired(str(exc)) from exc
            raise
        if principal is None:
            if path.startswith("/ui/"):
                raise SignInRequired("")
            raise Unauthenticated.missing()
        request.state.principal = principal
        if action is None:
            raise Forbidden(f"この操作 ({method} {path}) は必要な権限を宣言していません / "
                            "the route declares no action (requires/public): refused")
        if action in CASEWORK and allowed(principal, action) and not allowed(principal, action, service):
            doing = ("読める", "read") if action == "casework.read" else ("記録できる", "write")
            raise Forbidden(f"この事業の担当者・支援経過記録は、この事業のケースを{doing[0]}役割の職員だけが扱えます（D17） / "
                            f"a program's case workers and notes are for staff whose roles {doing[1]} its cases (D17)")
        if not allowed(principal, action, service):
            roles_ja, roles_en = roles_named(principal.roles)
            raise Forbidden(f"あなたの役割（{roles_ja}）ではこの操作はできません / "
                            f"your roles ({roles_en}) do not allow {action}")
        program = program_of(action, service)
        if program and principal.division not in PROGRAM_DIVISIONS[program]:
            raise Forbidden(f"{DIVISIONS[principal.division].ja}はこの事業 ({program}) を実施していません / "
                            f"your division does not run the {program} program")
        await _require_scope(request, principal, service, method)
        request.state.authorized = action  # what the route's own `requires` checks

    return authorize


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None  # the route answers 422


async def _require_scope(request: Request, principal: Principal, service: str, method: str) -> None:
    """Division scope on every route that names a case, a plan, a person or a meeting, reads and writes (issue 13).

    The same for every service: the divisions its own record of the case names (`ServiceApplication.case_divisions`;
    intake's are the case's readers, services/intake/access.py); a plan counts as its case; a person's
    records as the divisions that read the person's cases; a meeting's record as its members' (and, for a
    重層的支援会議, the city's secretariat's). A record the service does not have is the route's 404.
    A refused case names the divisions that hold it among those that run the program (whom to ask: for
    intake, the counter's division that received it). Auditors read every division by design."""
    if reads_every_division(principal):
        return
    params = request.path_params
    app: ServiceApplication = runtime_of(request).app  # the hooks (the signed-in staff member's tenant's: issue 18)
    case_id = _uuid(params["case_id"]) if "case_id" in params else None
    plan_id = _uuid(params["plan_id"]) if case_id is None and "plan_id" in params else None
    if (case_id is not None or (plan_id is not None and "person_ref" not in params and "meeting_id" not in params)
            ) and app.reads_every_case(principal.division):
        return  # the program's own divisions: every case's scope names them, nothing to read (no thread hop)

    def case_and_divisions() -> tuple[UUID | None, frozenset[str] | None]:
        """The case (a plan's) and the divisions its record names, in one hop to a worker thread (not two)."""
        case = case_id if case_id is not None else (app.case_of_plan(plan_id) if plan_id else None)
        if case is None:
            return None, None
        try:
            return case, app.case_divisions(case)
        except NotFound:
            return case, None  # the route answers 404

    if case_id is not None or plan_id is not None:
        decoded_once.open_slot()  # the case decoded for the check, for the route's own load (shared/kernel/decoded_once.py)
        found, divisions = await run_sync(case_and_divisions)
        if found is not None:
            if divisions is not None:
                require_scope(principal, divisions, holders=divisions & PROGRAM_DIVISIONS.get(service, frozenset()))
            return
    if "person_ref" in params:
        person_ref = _uuid(params["person_ref"])
        readers = await run_sync(app.person_readers, person_ref) if person_ref else None
        if readers is not None:
            require_scope(principal, readers, "この相談者の記録")
        return
    if "meeting_id" in params and method == "GET":
        meeting_id = _uuid(params["meeting_id"])
        readers = await run_sync(app.meeting_readers, meeting_id) if meeting_id else None
        if readers is not None:
            require_scope(principal, readers, "この会議の記録")


def _walk(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route of an app, those of included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.16x)
            yield from _walk(route.original_router.routes)


def actions(api: FastAPI) -> dict[tuple[str, str], str | None]:
    """The policy table of an app, read from its routes: (method, path template) → the action each
    declares (PUBLIC for a public route, None for a route that declares nothing and is refused)."""
    return {(method, route.path): declared(route) for route in _walk(api.routes)
            for method in sorted(route.methods or ())}


def annotate_operations(api: FastAPI, annotate: Callable[[dict[str, Any], str, str], None],
                        then: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Once, when the app's OpenAPI document is first made: `annotate(operation, path, action)` on every operation
    whose route declares an action (PUBLIC included), then `then(document)`; the document is kept as annotated."""
    made = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = made()
            for (method, path), action in actions(api).items():
                operation = schema.get("paths", {}).get(path, {}).get(method.lower())
                if isinstance(operation, dict) and action:
                    annotate(operation, path, action)
            if then is not None:
                then(schema)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def document_actions(api: FastAPI) -> None:
    """Every operation of the OpenAPI document names the action it needs (`x-jusou-action`), for integrators."""

    def name_action(operation: dict[str, Any], _path: str, action: str) -> None:
        operation["x-jusou-action"] = action

    annotate_operations(api, name_action)
