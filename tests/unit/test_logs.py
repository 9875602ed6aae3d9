"""shared.observe.logs: JSON lines with JUSOU_LOG_FORMAT=json, readable lines otherwise, ids only when they are ids."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

from shared.kernel.journey import journey_id
from shared.observe.logs import path_ids

ROOT = Path(__file__).resolve().parents[2]

# A service process's whole life in miniature: structlog, a stdlib library, a warning, a crash.
PROGRAM = """
import logging, warnings
import structlog
from shared.observe.logs import configure_logging
configure_logging("intake")
structlog.get_logger().info("relay.published", event_id="e-1")
logging.getLogger("uvicorn.error").error("Exception in ASGI application")
warnings.warn("a deprecation", UserWarning)
person_name = "鷺沼テスト花子"  # a local of the crashing frame: never in a log line
raise RuntimeError("boom")
"""


def run(log_format: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "JUSOU_LOG_FORMAT"}
    if log_format:
        env["JUSOU_LOG_FORMAT"] = log_format
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1, done.stderr  # the crash
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_json_format_makes_every_line_of_the_process_one_json_object_naming_the_service() -> None:
    lines = [json.loads(line) for line in run("json")]  # a line that is not JSON fails here
    assert all(line["service"] == "intake" and line["level"] and line["timestamp"] for line in lines)
    events = [line["event"] for line in lines]
    assert events[:2] == ["relay.published", "Exception in ASGI application"]
    assert any("a deprecation" in event for event in events), events
    crash = lines[-1]
    assert crash["event"] == "uncaught_exception" and crash["level"] == "critical"
    assert "boom" in json.dumps(crash["exception"])
    assert "鷺沼" not in json.dumps(lines, ensure_ascii=False), "a traceback's locals reached the log"


def test_console_format_is_readable_lines_naming_the_service() -> None:
    lines = run(None)
    first = lines[0]
    assert not first.startswith("{") and "relay.published" in first and "service=intake" in first
    assert any("Traceback" in line or "RuntimeError: boom" in line for line in lines)
    assert not any("鷺沼" in line for line in lines), "a traceback's locals reached the log"


def test_path_ids_keeps_uuids_and_adds_the_journey_of_a_case() -> None:
    case_id, plan_id = uuid4(), uuid4()
    assert path_ids({"case_id": str(case_id), "plan_id": str(plan_id), "index": "2"}) == {
        "case_id": str(case_id),
        "plan_id": str(plan_id),
        "correlation_id": str(journey_id(case_id)),
    }


def test_path_ids_drops_a_segment_that_is_not_an_id() -> None:
    # `/cases/鷺沼花子/person` reaches no route that accepts it, but must not reach a log line either.
    assert path_ids({"case_id": "鷺沼花子", "meeting_id": "not-a-uuid"}) == {}


async def test_a_command_on_a_case_carries_its_ids_into_the_use_case_and_logs_the_route_not_the_path() -> None:
    import httpx
    import structlog
    from fastapi import Depends, FastAPI
    from structlog.testing import capture_logs

    from shared.observe.logs import RequestContext, bind_path_ids

    api = FastAPI(dependencies=[Depends(bind_path_ids)])
    api.add_middleware(RequestContext)

    @api.post("/cases/{case_id}/consent")
    def blocking_use_case(case_id: str) -> dict[str, str]:  # a `def` route runs in the thread pool
        return dict(structlog.contextvars.get_contextvars())

    @api.get("/persons/search")
    async def search(name: str) -> list[str]:
        return []

    case_id = uuid4()
    transport = httpx.ASGITransport(app=api)
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))  # as in a service
    try:
        with capture_logs() as logged:
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
                seen = (await client.post(f"/cases/{case_id}/consent?note=鷺沼")).json()
                assert (await client.get("/persons/search", params={"name": "鷺沼テスト花子"})).status_code == 200
    finally:
        structlog.configure(**before)
        structlog.contextvars.clear_contextvars()  # the in-process request ran in this test's task
    assert seen["case_id"] == str(case_id) and seen["correlation_id"] == str(journey_id(case_id))
    [command] = logged  # one line for the command, none for the read
    assert command["event"] == "http.command" and command["route"] == "/cases/{case_id}/consent"
    assert command["case_id"] == str(case_id) and command["status"] == 200
    assert "鷺沼" not in json.dumps(logged, ensure_ascii=False)


def test_a_structlog_line_is_one_write_of_its_text_and_newline() -> None:
    """A line is one write (one syscall on an unbuffered stderr), not print()'s two (the text, then "\\n"): a service
    writes a few lines per event (issue 19)."""
    program = """
import sys
import structlog
from shared.observe.logs import configure_logging

class Counting:
    def __init__(self):
        self.writes = []
    def write(self, text):
        self.writes.append(text)
        return len(text)
    def flush(self):
        pass

configure_logging("intake")
counting = Counting()
sys.stderr = counting
structlog.get_logger().info("relay.published", event_id="e-1")
structlog.get_logger().info("inbox.applied", event_id="e-2")
sys.stderr = sys.__stderr__
import json
print(json.dumps(counting.writes))
"""
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    writes = json.loads(done.stdout)
    assert len(writes) == 2, writes
    assert "relay.published" in writes[0] and writes[0].endswith("\n") and writes[0].count("\n") == 1
    assert "inbox.applied" in writes[1] and writes[1].endswith("\n")
