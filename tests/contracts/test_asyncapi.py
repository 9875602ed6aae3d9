"""The AsyncAPI documents: generated from the code, checked in, and accepted by the AsyncAPI parser."""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faststream.nats import NatsBroker

from jusou.cli import ASYNCAPI_DIR, asyncapi_differences
from jusou.runner import subscriptions, subscriptions_of
from shared.contract.events import REGISTRY, SERVICES
from shared.messaging.deadletters import subscribe_replays
from shared.messaging.inbox import Inbox
from shared.web.asyncapi import (
    PUBLISHED_VERSION,
    PUBLISHES,
    documents,
    versions,
)

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "asyncapi"


@pytest.fixture(scope="module")
def generated() -> dict[str, dict[str, Any]]:
    return documents(subscriptions())


def test_checked_in_asyncapi_documents_equal_what_the_code_generates() -> None:
    assert asyncapi_differences(ASYNCAPI_DIR) == [], "run `jusou asyncapi export` and commit docs/asyncapi"


def _event_types_in_rules(path: Path) -> set[str]:
    """The event types a translate module's rules return: string literals naming a registry event."""
    known = {event_type for event_type, _ in REGISTRY}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in known}
    return found


def _published_by(service: str) -> set[str]:
    translate = ROOT / "services" / service / "translate.py"
    found = _event_types_in_rules(translate)
    if "PLAN_RULES" in translate.read_text(encoding="utf-8"):
        found |= _event_types_in_rules(ROOT / "shared" / "domain" / "plan.py")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_documented_publications_are_the_translate_rules(service: str) -> None:
    assert set(PUBLISHES[service]) == _published_by(service)


def test_every_registered_event_is_published_by_someone() -> None:
    assert {event_type for event_type, _ in REGISTRY} == {e for events in PUBLISHES.values() for e in events}


@pytest.mark.parametrize("service", SERVICES)
def test_documented_consumers_are_the_inbox_consumers(service: str, generated: dict[str, dict[str, Any]]) -> None:
    subscriptions = subscriptions_of(service)
    broker = NatsBroker(logger=None)
    inbox = Inbox(SimpleNamespace(service=service, subscriptions=subscriptions), broker, max_deliver=3)  # type: ignore[arg-type]
    subscribe_replays(inbox)  # `<service>--replay` on JUSOU_REPLAY (shared/messaging/deadletters.py)
    live = {sub.specification.config.title_: sub.specification.subject.template for sub in broker.subscribers}
    document = generated[service]
    received = [op["channel"]["$ref"].rsplit("/", 1)[-1] for op in document["operations"].values()
                if op["action"] == "receive"]
    assert {name: document["channels"][name]["address"] for name in received} == live


@pytest.mark.parametrize("service", SERVICES)
def test_every_published_subject_carries_every_version_of_its_event(
    service: str, generated: dict[str, dict[str, Any]]
) -> None:
    document = generated[service]
    schemas = document["components"]["schemas"]
    for event_type in PUBLISHES[service]:
        subject = f"jusou.{service}.{event_type}"
        assert document["operations"][subject]["action"] == "send"
        message = document["components"]["messages"][f"{subject}:Message"]
        assert message["headers"]["required"] == ["Nats-Msg-Id"]
        assert message["correlationId"]["location"] == "$message.payload#/correlation_id"
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        variants = [schemas[ref["$ref"].rsplit("/", 1)[-1]] for ref in payload.get("anyOf", [])] or [payload]
        assert sorted(v["properties"]["schema_version"]["const"] for v in variants) == versions(event_type)
        for variant in variants:
            version = variant["properties"]["schema_version"]["const"]
            assert variant["properties"]["event_type"]["const"] == event_type
            assert variant["properties"]["payload"]["$ref"].endswith(f"/{REGISTRY[(event_type, version)].__name__}")


def test_case_escalated_documents_v1_as_published_and_v2_as_defined(generated: dict[str, dict[str, Any]]) -> None:
    assert PUBLISHED_VERSION == {"CaseEscalated": 1}
    summary = generated["intake"]["components"]["messages"]["jusou.intake.CaseEscalated:Message"]["summary"]
    assert "schema_version 1 is published today" in summary and "versions 1, 2" in summary
    collaboration = generated["collaboration"]["components"]["schemas"]
    assert {"CaseEscalatedV1Message", "CaseEscalatedV2Message"} <= set(collaboration)


# --- the AsyncAPI project's own parser (npm @asyncapi/parser) --------------------------------


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node
    if os.environ.get("CI"):
        pytest.fail("node and npm are required in CI to validate docs/asyncapi with @asyncapi/parser")
    pytest.skip("node/npm not installed (CI fails here instead of skipping)")


@pytest.fixture(scope="module")
def validator() -> list[str]:
    """The parser, installed once: `dev.py test` runs the second municipality's file beside the first in the same
    checkout, and two `npm ci` at once (each first deletes node_modules) left one run's parser half installed (a
    clean-clone CI rehearsal failed here once): the install and its check are under one lock."""
    node = _node()
    with open(Path(tempfile.gettempdir()) / f"jusou-asyncapi-{hashlib.sha256(str(VALIDATOR).encode()).hexdigest()[:16]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (VALIDATOR / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file():
            installed = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=VALIDATOR, capture_output=True, text=True, timeout=300, check=False,
            )
            assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    return [node, str(VALIDATOR / "validate.mjs")]


def test_asyncapi_parser_accepts_every_checked_in_document(validator: list[str]) -> None:
    result = subprocess.run([*validator, str(ASYNCAPI_DIR)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"@asyncapi/parser refused a document:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.count("ok   ") == len(SERVICES), result.stdout


def test_asyncapi_parser_refuses_a_broken_document(validator: list[str], tmp_path: Path) -> None:
    document = json.loads((ASYNCAPI_DIR / "intake.json").read_text(encoding="utf-8"))
    operation = document["operations"]["jusou.intake.CaseEscalated"]
    operation["action"] = "publish"  # AsyncAPI 2's word: 3.0 knows only send and receive
    operation["channel"] = {"$ref": "#/channels/nowhere"}
    (tmp_path / "broken.json").write_text(json.dumps(document), encoding="utf-8")
    result = subprocess.run([*validator, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "FAIL" in result.stderr and "error" in result.stderr
