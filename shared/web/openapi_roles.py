"""Which roles may call each operation, in the OpenAPI document itself (the review from outside as an integrator).

`x-jusou-action` named the action an operation needs (shared/web/policy.py), but which staff roles hold it was
written only in policy.py: an integrator reading `/docs` or `/openapi.json` could not tell which token to ask for.
Each operation now says it in its description, in Japanese and English, and lists the role codes (the `roles`
claim of a token, `jusou staff add --role`) as `x-jusou-roles`, computed from the policy the gate applies
(`allowed`, with D17's casework rule at this service), so the two cannot drift apart. A command of a program also
needs a division that runs it, and a route naming a case, plan, person or meeting checks the division scope: both said.
A parameter explained only by its title gets it as its description too (`described_parameters`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shared.organisation.reference import DIVISION_TITLES
from shared.web.auth import Principal
from shared.web.policy import PUBLIC, ROLES, allowed, annotate_operations, program_of

NO_TOKEN = "認証不要（トークンなしで呼べます） / no token needed"
SCOPE = ("ケース・プラン・相談者・会議を名指しする操作は、読み手の課の範囲でも判断します（範囲外は 403 `out_of_scope`） / "
         "an operation naming a case, plan, person or meeting also checks the reader's division scope (outside it: "
         "403 `out_of_scope`)")
#: The path parameters that name a record whose division scope the gate checks (shared/web/policy.py _require_scope).
SCOPED = ("{case_id}", "{plan_id}", "{person_ref}", "{meeting_id}")


def roles_for(action: str, service: str) -> list[str]:
    """The role codes whose holder the gate lets take `action` at `service`, in ROLES's order."""
    return [code for code in ROLES
            if allowed(Principal(staff_id="openapi", division="", roles=frozenset({code})), action, service)]


def described(action: str, service: str, names_a_record: bool) -> str:
    """The paragraphs an operation's description ends with: who may call it (Markdown, as Swagger UI shows it)."""
    if action == PUBLIC:
        return NO_TOKEN
    codes = roles_for(action, service)
    if not codes:
        return "どの役割もこの操作はできません / no role may call it"
    said = ["**呼べる役割 / roles**: " + "、".join(f"{ROLES[c].ja} `{c}`" for c in codes) + " (`x-jusou-roles`)"]
    program = program_of(action, service)
    if program:
        said.append(f"**課 / division**: {DIVISION_TITLES[program].split(' (')[0]}を実施する課の職員に限ります（他の課は "
                    f"403） / only staff of a division that runs the {program} program (others: 403)")
    if names_a_record:
        said.append(f"**課の範囲 / division scope**: {SCOPE}")
    return "\n\n".join(said)


def described_parameters(schema: dict[str, Any]) -> None:
    """A parameter that has a title (`Query(title=…)`, e.g. `limit`'s 「件数 / how many (1–500; none: all)」) but no
    description gets its title as its description: Swagger UI shows a parameter's description, never its schema's
    title, so /docs showed `limit` and `cursor` unexplained."""
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                title = parameter.get("schema", {}).get("title", "")
                if not parameter.get("description") and title and not _is_name(title, parameter.get("name", "")):
                    parameter["description"] = title


def _is_name(title: str, name: str) -> bool:
    """Whether a title is FastAPI's own, made from the name (`case_id` → "Case Id"): no explanation."""
    return title.replace(" ", "").lower() == name.replace("_", "").replace("-", "").lower()


def document_roles(api: FastAPI, service: str) -> None:
    """Every operation of the service's OpenAPI document says which roles may call it (after `document_actions`)."""

    def name_roles(operation: dict[str, Any], path: str, action: str) -> None:
        operation["x-jusou-roles"] = [] if action == PUBLIC else roles_for(action, service)
        said = described(action, service, names_a_record=any(name in path for name in SCOPED))
        before = operation.get("description", "")
        operation["description"] = f"{before}\n\n{said}" if before else said

    annotate_operations(api, name_roles, then=described_parameters)
