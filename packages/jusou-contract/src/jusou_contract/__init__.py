"""Jusou's public event contract, on its own (docs/integrating.md §4).

`jusou_contract.events` is Jusou's `shared/contract/events.py` as it is: the envelope, the payload
model of every (event_type, schema_version), `parse`, `upcast` and the registry. The JSON Schemas and
the AsyncAPI documents are the files Jusou publishes, read here by name.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from jusou_contract.events import (
    PRODUCERS,
    REGISTRY,
    STREAM,
    SUBJECT_PREFIX,
    UPCASTERS,
    Envelope,
    PoisonMessage,
    latest_version,
    parse,
    subject_for,
    upcast,
)

__all__ = [
    "PRODUCERS", "REGISTRY", "STREAM", "SUBJECT_PREFIX", "UPCASTERS", "Envelope", "PoisonMessage", "asyncapi",
    "latest_version", "parse", "schema", "schema_names", "subject_for", "upcast",
]


def schema_names() -> list[str]:
    """`Envelope` and `<EventType>.v<N>` for every published JSON Schema."""
    return sorted(entry.name.removesuffix(".json") for entry in files(__package__).joinpath("schemas").iterdir()
                  if entry.name.endswith(".json"))


def schema(name: str) -> dict[str, Any]:
    """A published JSON Schema: `schema("Envelope")`, `schema("CaseEscalated.v2")`."""
    loaded: dict[str, Any] = json.loads(files(__package__).joinpath("schemas", f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def asyncapi(service: str) -> dict[str, Any]:
    """A service's AsyncAPI 3.0 document (what it publishes, every version in its envelope, and its consumers)."""
    loaded: dict[str, Any] = json.loads(files(__package__).joinpath("asyncapi", f"{service}.json").read_text(encoding="utf-8"))
    return loaded
