"""The operation ids of each service's OpenAPI document are part of the public contract: extend, never break (the
review from outside as an integrator, session 21).

A client generated from `/openapi.json` names its methods by `operationId` (`consent_cases__case_id__consent_post`),
which FastAPI makes from the route's function name, path and method: renaming a handler, or moving a route, renamed
the integrator's method without a word. tests/contracts/openapi_operation_ids.json pins each operation's id; an id
pinned there must stay as it is, and each service's ids are unique. A new operation is added to the file with

    .venv/bin/python tests/contracts/test_hf3_openapi_operation_ids.py

which adds what is new and never changes or removes a pinned id.
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from fastapi import FastAPI

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
PINNED = Path(__file__).with_name("openapi_operation_ids.json")


@cache
def api_of(service: str) -> FastAPI:
    api: FastAPI = importlib.import_module(f"services.{service}.main").api
    return api


def operation_ids(service: str) -> dict[str, str]:
    """`METHOD path` → operationId, as the service's document has them now."""
    return {f"{method.upper()} {path}": operation["operationId"]
            for path, methods in api_of(service).openapi()["paths"].items() for method, operation in methods.items()}


def pinned() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = json.loads(PINNED.read_text(encoding="utf-8"))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_pinned_operation_keeps_its_id(service: str) -> None:
    now = operation_ids(service)
    broken = [f"{operation}: pinned {was!r}, now {now.get(operation)!r}"
              for operation, was in pinned()[service].items() if now.get(operation) != was]
    assert not broken, (f"{len(broken)} operations of {service} lost or changed their operationId (a generated "
                        "client's method): keep the route's function name and path, or give the route "
                        "operation_id= with the pinned id\n" + "\n".join(broken))


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_unique_pinned_id(service: str) -> None:
    now = operation_ids(service)
    twice = [name for name, n in Counter(now.values()).items() if n > 1]
    assert not twice, f"operationIds used twice in {service}: {twice}"
    unpinned = sorted(set(now) - set(pinned()[service]))
    assert not unpinned, (f"new operations of {service}: pin their ids with `.venv/bin/python {__file__}` "
                          f"(tests/contracts/openapi_operation_ids.json): {unpinned}")


if __name__ == "__main__":
    kept = pinned() if PINNED.exists() else {}
    for name in SERVICES:
        kept[name] = {**operation_ids(name), **kept.get(name, {})}  # a pinned id is never changed here
    PINNED.write_text(json.dumps(kept, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"pinned {sum(map(len, kept.values()))} operations in {PINNED}")
