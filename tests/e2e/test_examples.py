"""Integration by subscription, against the running suite.

`examples/indicators.py` (plain nats-py, no project code) builds the MHLW indicators with its own
durable consumer, from history and live; a consumer that knows only CaseEscalated v1 keeps working;
every message on the stream is what its publisher's AsyncAPI document says.

The suite runs as `jusou up` runs it, with its own nats-server and its NATS users (issue 13): the
example connects as the read-only `integrator`, with the credentials `jusou nats credentials`
prints, as docs/integrating.md §5 says; it may not take a service's consumer, and it stops at
once on SIGTERM, also while it waits for NATS.
"""

from __future__ import annotations

import ast
import asyncio
import json
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from support.journey import Journey
from support.poll import eventually
from support.servers import free_port
from support.v1_consumer import escalation_reasons

from jusou.runner import Suite
from shared.contract.events import CaseEscalatedV2, parse, upcast
from shared.messaging.bus import connect

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "indicators.py"
INDICATORS = ("consultations_by_counter", "cases_escalated", "escalations_by_reason",
              "people_supported_by_participation", "plans_closed")


SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@pytest.fixture(scope="module")
def running_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The suite as `jusou up` runs it: its own nats-server with a NATS user per service and the integrator."""
    root = tmp_path_factory.mktemp("examples")
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(SERVICES) + 1:
        ports = {name: free_port() for name in (*SERVICES, "nats")}
    nats_port = ports.pop("nats")
    with Suite(root / "data", nats_port=nats_port, ports=ports, extra_env={"JUSOU_STORE": "sqlite"}) as running:
        yield running


def integrator_env(suite: Suite) -> dict[str, str]:
    """The environment docs/integrating.md §5 makes: `eval "$(jusou nats credentials integrator)"`."""
    done = subprocess.run([sys.executable, "-m", "jusou.cli", "nats", "credentials", "integrator"], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "JUSOU_DATA_DIR": str(suite.data_dir)},
                          capture_output=True, text=True, timeout=60, check=True)
    exported = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in done.stdout.splitlines())
    assert set(exported) == {"NATS_USER", "NATS_PASSWORD"} and exported["NATS_USER"] == "integrator"
    return {"PATH": "/usr/bin:/bin", **exported}


async def stream(suite: Suite) -> list[Any]:
    """Every message of `JUSOU`, in stream order (read as the operator)."""
    nc = await connect(suite.nats_url, "examples-test", *suite.nats_operator())
    js = nc.jetstream()
    info = await js.stream_info("JUSOU")
    messages = [await js.get_msg("JUSOU", seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    await nc.close()
    return messages


def expected(bodies: list[bytes]) -> dict[str, Any]:
    """The indicators folded with the project's own contract code: the oracle for the example."""
    by_counter: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    person_of_case: dict[str, str] = {}
    participation: set[str] = set()
    escalated = closed = 0
    for body in bodies:
        envelope, payload = upcast(*parse(body))
        case = str(envelope.case_id)
        if envelope.event_type == "ConsultationReceived":
            by_counter[payload.counter] += 1  # type: ignore[attr-defined]
            person_of_case[case] = payload.person_ref  # type: ignore[attr-defined]
        elif isinstance(payload, CaseEscalatedV2):
            escalated += 1
            reasons[payload.reason_code] += 1
        elif envelope.event_type == "ParticipationStarted":
            participation.add(case)
        elif envelope.event_type == "PlanClosed":
            closed += 1
    return {"consultations_by_counter": dict(sorted(by_counter.items())), "cases_escalated": escalated,
            "escalations_by_reason": dict(reasons),
            "people_supported_by_participation": len({person_of_case.get(c, c) for c in participation}),
            "plans_closed": closed}


def indicators_of(line: dict[str, Any]) -> dict[str, Any]:
    return {key: line[key] for key in INDICATORS}


async def run_example(suite: Suite, state: Path, durable: str, count: int) -> list[dict[str, Any]]:
    """Run the example as the integrator until it has seen `count` messages; its JSON lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(EXAMPLE), suite.nats_url, "--durable", durable, "--state", str(state),
        "--count", str(count), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=integrator_env(suite),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


def test_the_example_imports_nothing_of_jusou() -> None:
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"nats"}


async def test_indicators_example_catches_up_on_history(journey: Journey, running_suite: Suite, tmp_path: Path) -> None:
    await journey.whole()
    history = await stream(running_suite)

    lines = await run_example(running_suite, tmp_path / "view.json", "mhlw-history", len(history))

    last = lines[-1]
    assert last["stream_seq"] == history[-1].seq
    assert indicators_of(last) == expected([m.data for m in history])
    assert last["consultations_by_counter"]["houkatsu"] >= 1
    assert last["cases_escalated"] >= 1 and last["escalations_by_reason"]["unclassified"] == last["cases_escalated"]
    assert last["people_supported_by_participation"] >= 1 and last["plans_closed"] >= 1
    assert last["skipped"] == 0


async def test_indicators_example_resumes_its_durable_consumer_exactly_once(
    journey: Journey, running_suite: Suite, tmp_path: Path
) -> None:
    await journey.receive_and_escalate()
    history = await stream(running_suite)
    state = tmp_path / "view.json"

    first = await run_example(running_suite, state, "mhlw-restart", 3)
    rest = await run_example(running_suite, state, "mhlw-restart", len(history) - 3)

    assert first[-1]["stream_seq"] == history[2].seq
    assert rest[-1]["stream_seq"] == history[-1].seq
    assert indicators_of(rest[-1]) == expected([m.data for m in history])


async def test_indicators_example_follows_a_journey_live(journey: Journey, running_suite: Suite, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(EXAMPLE), running_suite.nats_url, "--durable", "mhlw-live",
        "--state", str(tmp_path / "view.json"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=integrator_env(running_suite),
    )
    lines: list[dict[str, Any]] = []

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            lines.append(json.loads(raw))

    reader = asyncio.create_task(read())
    try:
        await eventually(lambda: asyncio.sleep(0, bool(lines) and lines[-1]["caught_up"]), "the example to catch up")
        before = lines[-1]
        await journey.whole()  # while the example runs

        async def caught_up_with_the_stream() -> bool:
            history = await stream(running_suite)
            return bool(lines) and lines[-1]["stream_seq"] == history[-1].seq and (
                indicators_of(lines[-1]) == expected([m.data for m in history]))

        await eventually(caught_up_with_the_stream, "the example's view to follow the journey")
        after = lines[-1]
        assert after["plans_closed"] == before["plans_closed"] + 1
        assert after["cases_escalated"] == before["cases_escalated"] + 1
        assert after["people_supported_by_participation"] == before["people_supported_by_participation"] + 1
        process.send_signal(signal.SIGINT)  # Ctrl-C
        code = await asyncio.wait_for(process.wait(), timeout=10)
        assert process.stderr is not None
        assert code == 0, (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader


async def test_a_v1_only_consumer_keeps_working_on_the_suites_stream(journey: Journey, running_suite: Suite) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "collaboration")

    reasons = escalation_reasons(m.data for m in await stream(running_suite))

    assert reasons[case_id] == "母の介護と本人のひきこもり、家計の課題が重なる"
    collaboration = (await journey.http.get(journey.urls["collaboration"] + f"/cases/{case_id}")).json()
    assert collaboration["reason"] == reasons[case_id]  # upcast to v2 inside collaboration, same text


async def test_every_message_on_the_stream_is_what_its_publishers_asyncapi_says(
    journey: Journey, running_suite: Suite
) -> None:
    await journey.whole()
    documents: dict[str, dict[str, Any]] = {}
    for service in running_suite.services:
        response = await journey.http.get(running_suite.url(service) + "/asyncapi.json", timeout=30)
        assert response.status_code == 200
        assert response.text == (ROOT / "docs" / "asyncapi" / f"{service}.json").read_text(encoding="utf-8")
        documents[service] = response.json()

    checked: Counter[str] = Counter()
    for message in await stream(running_suite):
        service = message.subject.split(".")[1]
        document = documents[service]
        [channel] = [c for c in document["channels"].values() if c["address"] == message.subject]
        [reference] = channel["messages"].values()
        spec = document["components"]["messages"][reference["$ref"].rsplit("/", 1)[-1]]
        registry = Registry().with_resource("urn:doc", Resource.from_contents(document, default_specification=DRAFT7))
        validator = jsonschema.Draft7Validator({"$ref": "urn:doc" + spec["payload"]["$ref"]}, registry=registry)
        validator.validate(json.loads(message.data))
        jsonschema.Draft7Validator(spec["headers"]).validate(dict(message.headers))
        assert message.headers["Nats-Msg-Id"] == json.loads(message.data)["event_id"]
        checked[message.subject] += 1
    assert {"jusou.intake.CaseEscalated", "jusou.meeting.PlanClosed", "jusou.participation.ParticipationStarted"} <= set(checked)


async def _stops_on_sigterm(process: asyncio.subprocess.Process, after_s: float) -> tuple[int, float, str]:
    """SIGTERM after `after_s`; (exit code, seconds it took to stop, stderr)."""
    await asyncio.sleep(after_s)
    assert process.returncode is None, "the example ended before it was stopped"
    process.send_signal(signal.SIGTERM)
    began = time.monotonic()
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, time.monotonic() - began, err.decode()


async def test_indicators_example_stops_promptly_on_sigterm_while_nats_is_away(tmp_path: Path) -> None:
    nowhere = f"nats://127.0.0.1:{free_port()}"  # nothing listens: it keeps trying to connect
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(EXAMPLE), nowhere, "--state", str(tmp_path / "view.json"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    code, seconds, err = await _stops_on_sigterm(process, 3)

    assert (code, seconds < 3) == (0, True), (code, seconds, err)


async def test_indicators_example_with_a_wrong_password_says_so_and_stops_on_sigterm(
    running_suite: Suite, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(EXAMPLE), running_suite.nats_url, "--user", "integrator", "--password", "wrong",
        "--state", str(tmp_path / "view.json"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    code, seconds, err = await _stops_on_sigterm(process, 3)

    assert (code, seconds < 3) == (0, True), (code, seconds, err)
    assert "authorization violation" in err.lower(), err


async def test_indicators_example_may_not_take_a_services_consumer(running_suite: Suite, tmp_path: Path) -> None:
    """As the integrator, `collaboration--intake` (collaboration's own consumer) is refused: exit 1, said why."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(EXAMPLE), running_suite.nats_url, "--durable", "collaboration--intake",
        "--state", str(tmp_path / "view.json"), "--count", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=integrator_env(running_suite))
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 1 and out == b"", (process.returncode, out, err)
    assert "collaboration--intake" in err.decode(), err
