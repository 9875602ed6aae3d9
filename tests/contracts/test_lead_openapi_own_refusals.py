"""A route's own word on a refusal reaches its OpenAPI document (session 24, found by HG).

`document_refusals` (shared/web/errors.py) wrote the common description of each refusal's status over what the route
had declared, so collaboration's 409 「いまはできません（窓口へ戻したケース、決定済みの課題…）」 never reached the
document an integrator reads: every 409 read 「規則により記録できません…」. The route's words now come first, the
common codes after them; a route that declares nothing of its own keeps the common description alone."""

from __future__ import annotations

from typing import Any

from shared.web.errors import REFUSALS


def _operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


def test_a_routes_own_refusal_description_stays_before_the_common_one() -> None:
    from services.collaboration.main import api

    api.openapi_schema = None
    document = api.openapi()
    declared = [(path, method, operation["responses"]["409"]["description"])
                for path, methods in document["paths"].items() for method, operation in methods.items()
                if "409" in operation.get("responses", {}) and "窓口へ戻したケース" in
                operation["responses"]["409"]["description"]]
    assert declared, "no 409 of collaboration says its own reasons (窓口へ戻したケース…)"
    for path, method, description in declared:
        assert description.endswith(REFUSALS[409]), (path, method, description)


def test_a_route_without_its_own_word_keeps_the_common_description() -> None:
    from services.intake.main import api

    api.openapi_schema = None
    document = api.openapi()
    descriptions = {operation["responses"]["401"]["description"]
                    for methods in document["paths"].values() for operation in methods.values()
                    if "401" in operation.get("responses", {})}
    assert descriptions == {REFUSALS[401]}
