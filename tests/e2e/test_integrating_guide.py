"""docs/integrating.md §5, followed literally against `jusou up` (issue 17, integrators).

The shell block of §5 is read from the guide itself, so the guide and this test cannot drift: its
first line (`python3 dev.py up`) is started as a person starts it, in its own terminal, and waited
for; the other lines run as they are, in one shell, in a folder that looks like a checkout of Jusou.
Only the ports are moved (`JUSOU_*_PORT`, `JUSOU_NATS_PORT`, `NATS_URL`), as a person whose 4223 is
taken would. The example then runs in the environment those lines made: `jusou-contract` and nats-py,
nothing else of Jusou; it connects as the read-only `integrator` with the credentials
`jusou nats credentials` printed.

Its view is compared with the same indicators folded by Jusou's own contract code, after a journey,
across a restart, and live during one; every message of the stream goes through the contract package
in that environment and is what its publisher's AsyncAPI document says; a consumer that knows only
CaseEscalated v1 keeps working; a wrong password stops the example at once, as does SIGTERM.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from support.auth import reader
from support.journey import COUNTER_STAFF, Journey
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import free_port
from support.v1_consumer import escalation_reasons

from shared.contract.events import CaseEscalatedV2, parse, upcast
from shared.messaging import natsauth
from shared.messaging.bus import connect

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "integrating.md"
EXAMPLE = ROOT / "examples" / "indicators.py"
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
CHECKOUT = ("dev.py", ".venv", "examples", "packages", "shared", "docs")  # what the block's lines name
INDICATORS = ("consultations_by_counter", "cases_escalated", "escalations_by_reason",
              "people_supported_by_participation", "plans_closed")
READY_S = 120


def guide_block() -> list[str]:
    """The shell lines of docs/integrating.md §5, as written."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## 5. "):text.index("## 6. ")]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line for line in block.splitlines() if line.strip()]


@dataclass
class Guide:
    folder: Path
    env: dict[str, str]  # the other terminal's: where `jusou up` keeps data/, and its NATS address
    urls: dict[str, str]
    nats_url: str
    env_python: Path  # the example's own environment, made by the guide's lines
    lines: list[dict[str, Any]]  # what the guide's last line printed
    stderr: str

    def operator(self) -> tuple[str, str]:
        return natsauth.OPERATOR, natsauth.credentials(self.folder / "data", SERVICES)[natsauth.OPERATOR]


def ready(urls: dict[str, str]) -> bool:
    with httpx.Client(timeout=2, trust_env=False) as client:  # never through an http_proxy
        try:
            return all(client.get(url + "/readyz").status_code == 200 for url in urls.values())
        except httpx.HTTPError:
            return False


@pytest.fixture(scope="module")
def suite_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], dict[str, str], str]]:
    """The guide's first line, `python3 dev.py up`, in a folder laid out like a checkout; until the module ends."""
    folder = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT:
        (folder / name).symlink_to(ROOT / name)
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(SERVICES) + 1:
        ports = {name: free_port() for name in (*SERVICES, "nats")}
    moved = {f"JUSOU_{name.upper()}_PORT": str(port) for name, port in ports.items()}
    base = {key: value for key, value in os.environ.items() if not key.startswith(("NATS_", "JUSOU_"))}
    base |= {"JUSOU_AUTH_DIR": os.environ["JUSOU_AUTH_DIR"],  # the tests' development issuer (support/auth.py)
             "JUSOU_DATA_DIR": str(folder / "data"), "JUSOU_STORE": "sqlite", **moved,
             # the municipality's file, as that person's deployment sets it (absent: Chofu's, the default)
             **{key: os.environ[key] for key in ("JUSOU_MUNICIPALITY_FILE",) if os.environ.get(key)}}
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
    nats_url = f"nats://127.0.0.1:{ports['nats']}"
    up, *_ = guide_block()
    assert up.split("#")[0].split() == ["python3", "dev.py", "up"], up
    screen = folder / "terminal-1.log"  # what the person would see in that terminal (never a pipe nobody reads)
    with screen.open("wb") as out:
        terminal = subprocess.Popen(["bash", "-c", up], cwd=folder, env=base, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_S
        while not ready(urls):
            if terminal.poll() is not None or time.monotonic() > deadline:
                shown = screen.read_text(errors="replace")[-3000:]
                raise AssertionError(f"`{up}` did not come up (code {terminal.poll()}): {shown}")
            time.sleep(0.2)
        yield folder, base | {"NATS_URL": nats_url}, urls, nats_url
    finally:
        os.killpg(terminal.pid, signal.SIGTERM)  # Ctrl-C's twin: jusou up stops the suite
        try:
            terminal.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(terminal.pid, signal.SIGKILL)
            terminal.wait()


@pytest.fixture
async def journey(suite_up: tuple[Path, dict[str, str], dict[str, str], str]) -> AsyncIterator[Journey]:
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        yield Journey(suite_up[2], client)


@pytest.fixture(scope="module")
async def guide(suite_up: tuple[Path, dict[str, str], dict[str, str], str]) -> Guide:
    """A journey through the suite, then the guide's other lines, as written, in one shell."""
    folder, env, urls, nats_url = suite_up
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        await Journey(urls, client).whole()
    _, *rest = guide_block()
    shell = await asyncio.create_subprocess_exec(
        "bash", "-e", "-o", "pipefail", "-c", "\n".join(rest), cwd=folder, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(shell.communicate(), timeout=300)
    finally:
        if shell.returncode is None:
            shell.kill()
            await shell.wait()
    assert shell.returncode == 0, err.decode()[-3000:]
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return Guide(folder, env, urls, nats_url, folder / "indicators-env" / "bin" / "python", lines, err.decode())


async def stream(guide: Guide) -> list[Any]:
    """Every message of `JUSOU`, in stream order (read as the operator)."""
    nc = await connect(guide.nats_url, "guide-test", *guide.operator())
    try:
        js = nc.jetstream()
        info = await js.stream_info("JUSOU")
        return [await js.get_msg("JUSOU", seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


def expected(bodies: list[bytes]) -> dict[str, Any]:
    """The indicators folded with Jusou's own contract code: the oracle for the example."""
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


async def example(guide: Guide, *args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """The example in its own environment (made by the guide's lines), as the integrator."""
    credentials = {key: value for key, value in guide.env.items() if key in ("PATH", "HOME", "NATS_URL")}
    credentials |= dict(zip(("NATS_USER", "NATS_PASSWORD"),
                            (natsauth.INTEGRATOR, natsauth.credentials(guide.folder / "data", SERVICES)[natsauth.INTEGRATOR]),
                            strict=True))
    return await asyncio.create_subprocess_exec(
        str(guide.env_python), "-I", str(EXAMPLE), *args, cwd=guide.folder, env=credentials if env is None else env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finished(process: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, out.decode(), err.decode()


def test_the_example_needs_of_jusou_only_the_contract_package() -> None:
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"nats", "jusou_contract"}


async def test_the_guide_as_written_builds_the_indicators_of_the_whole_stream(guide: Guide) -> None:
    history = await stream(guide)

    last = guide.lines[-1]
    assert last["caught_up"] is True and last["stream_seq"] == history[-1].seq
    assert indicators_of(last) == expected([m.data for m in history])
    assert last["consultations_by_counter"][ELDERLY.code] >= 1 and last["plans_closed"] >= 1
    assert last["cases_escalated"] >= 1 and last["escalations_by_reason"]["unclassified"] == last["cases_escalated"]
    assert last["people_supported_by_participation"] >= 1 and last["skipped"] == 0
    # the environment the guide made holds the contract and nats-py, not Jusou
    probe = await asyncio.create_subprocess_exec(
        str(guide.env_python), "-I", "-c", "import jusou_contract, nats, importlib.util as u; "
        "print(u.find_spec('shared') is None and u.find_spec('fastapi') is None)", stdout=asyncio.subprocess.PIPE)
    out, _ = await probe.communicate()
    assert (probe.returncode, out.strip()) == (0, b"True")


async def test_every_message_of_the_stream_parses_with_the_contract_package_alone(guide: Guide, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies.jsonl"
    history = await stream(guide)
    bodies.write_bytes(b"\n".join(m.data for m in history))
    script = ("import sys, collections\nfrom jusou_contract import parse, upcast\nseen = collections.Counter()\n"
              "for body in open(sys.argv[1], 'rb').read().splitlines():\n"
              "    envelope, payload = upcast(*parse(body))\n    seen[envelope.event_type] += 1\n"
              "print(sum(seen.values()), len(seen))\n")
    code, out, err = await finished(await asyncio.create_subprocess_exec(
        str(guide.env_python), "-I", "-c", script, str(bodies), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE))
    assert code == 0, err
    count, kinds = map(int, out.split())
    assert count == len(history) and kinds >= 8


async def test_the_example_resumes_its_durable_consumer_exactly_once(guide: Guide, tmp_path: Path) -> None:
    history = await stream(guide)
    state = str(tmp_path / "view.json")

    code1, out1, err1 = await finished(await example(guide, "--durable", "mhlw-restart", "--state", state, "--count", "3"))
    code2, out2, err2 = await finished(await example(guide, "--durable", "mhlw-restart", "--state", state, "--once"))

    assert (code1, code2) == (0, 0), err1 + err2
    first, rest = json.loads(out1.splitlines()[-1]), json.loads(out2.splitlines()[-1])
    assert first["stream_seq"] == history[2].seq and rest["stream_seq"] == history[-1].seq
    assert indicators_of(rest) == expected([m.data for m in history])


async def test_the_example_follows_a_journey_live_and_stops_on_ctrl_c(
    guide: Guide, journey: Journey, tmp_path: Path
) -> None:
    process = await example(guide, "--durable", "mhlw-live", "--state", str(tmp_path / "view.json"))
    lines: list[dict[str, Any]] = []

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            lines.append(json.loads(raw))

    reader_task = asyncio.create_task(read())
    try:
        await eventually(lambda: asyncio.sleep(0, bool(lines) and lines[-1]["caught_up"]), "the example to catch up")
        before = lines[-1]
        await journey.whole()  # while the example runs

        async def caught_up_with_the_stream() -> bool:
            history = await stream(guide)
            return bool(lines) and lines[-1]["stream_seq"] == history[-1].seq and (
                indicators_of(lines[-1]) == expected([m.data for m in history]))

        await eventually(caught_up_with_the_stream, "the example's view to follow the journey")
        after = lines[-1]
        assert after["plans_closed"] == before["plans_closed"] + 1
        assert after["cases_escalated"] == before["cases_escalated"] + 1
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader_task


async def test_a_v1_only_consumer_keeps_working_on_the_suites_stream(guide: Guide, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "collaboration")

    reasons = escalation_reasons(m.data for m in await stream(guide))

    assert reasons[case_id] == "母の介護と本人のひきこもり、家計の課題が重なる"
    collaboration = (await journey.http.get(journey.urls["collaboration"] + f"/cases/{case_id}")).json()
    assert collaboration["reason"] == reasons[case_id]  # upcast to v2 inside collaboration, same text


async def test_every_message_on_the_stream_is_what_its_publishers_asyncapi_says(guide: Guide, journey: Journey) -> None:
    documents: dict[str, dict[str, Any]] = {}
    for service, url in guide.urls.items():
        response = await journey.http.get(url + "/asyncapi.json", timeout=30)
        assert response.status_code == 200
        assert response.text == (ROOT / "docs" / "asyncapi" / f"{service}.json").read_text(encoding="utf-8")
        documents[service] = response.json()

    checked: Counter[str] = Counter()
    for message in await stream(guide):
        document = documents[message.subject.split(".")[1]]
        [channel] = [c for c in document["channels"].values() if c["address"] == message.subject]
        [reference] = channel["messages"].values()
        spec = document["components"]["messages"][reference["$ref"].rsplit("/", 1)[-1]]
        registry = Registry().with_resource("urn:doc", Resource.from_contents(document, default_specification=DRAFT7))
        jsonschema.Draft7Validator({"$ref": "urn:doc" + spec["payload"]["$ref"]}, registry=registry).validate(
            json.loads(message.data))
        jsonschema.Draft7Validator(spec["headers"]).validate(dict(message.headers))
        assert message.headers["Nats-Msg-Id"] == json.loads(message.data)["event_id"]
        checked[message.subject] += 1
    assert {"jusou.intake.CaseEscalated", "jusou.meeting.PlanClosed", "jusou.participation.ParticipationStarted"} <= set(checked)


async def test_a_wrong_password_stops_the_example_at_once_saying_why(guide: Guide, tmp_path: Path) -> None:
    began = time.monotonic()
    code, out, err = await finished(await example(
        guide, "--user", "integrator", "--password", "wrong", "--state", str(tmp_path / "view.json")), timeout=30)

    assert (code, out) == (2, ""), (code, out, err)
    assert time.monotonic() - began < 10, "it kept trying a refused password"
    assert "NATS refused the user 'integrator'" in err and "authorization violation" in err.lower(), err


async def test_the_example_stops_promptly_on_sigterm_while_nats_is_away(guide: Guide, tmp_path: Path) -> None:
    nowhere = f"nats://127.0.0.1:{free_port()}"  # nothing listens: it keeps trying to connect
    process = await example(guide, nowhere, "--state", str(tmp_path / "view.json"))
    assert process.stderr is not None
    said = await asyncio.wait_for(process.stderr.readline(), timeout=30)  # trying: `NATS: … Connect call failed`
    assert process.returncode is None and said.startswith(b"NATS: "), said

    process.send_signal(signal.SIGTERM)
    began = time.monotonic()
    code, _, err = await finished(process, timeout=10)

    assert (code, time.monotonic() - began < 3) == (0, True), err


async def test_the_example_may_not_take_a_services_consumer(guide: Guide, tmp_path: Path) -> None:
    """As the integrator, `collaboration--intake` (collaboration's own consumer) is refused: exit 1, said why."""
    code, out, err = await finished(await example(
        guide, "--durable", "collaboration--intake", "--state", str(tmp_path / "view.json"), "--count", "1"), timeout=30)

    assert (code, out) == (1, ""), (code, out, err)
    assert "collaboration--intake" in err, err


async def test_a_refusal_of_the_running_suite_names_its_rule_in_code_beside_the_message(
    guide: Guide, journey: Journey
) -> None:
    case_id = await journey.receive_and_escalate()

    again = await journey.http.post(journey.urls["intake"] + f"/cases/{case_id}/escalate", headers=COUNTER_STAFF,
                                    json={"reason": "もう一度", "primary_agency": ELDERLY.ja})
    unsigned = await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}", headers={"Authorization": ""})

    assert again.status_code == 409 and again.json()["code"] == "case_already_escalated", again.text
    assert "/" in again.json()["detail"]  # the message stays, in Japanese with English beside it
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "unauthenticated"), unsigned.text


async def test_a_cases_history_pages_by_limit_and_cursor_to_the_same_list(guide: Guide, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()  # three events at intake
    url = journey.urls["intake"] + f"/cases/{case_id}/history"
    whole = (await journey.http.get(url)).json()

    pages, link, cursor = [], None, ""
    while True:
        answer = await journey.http.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor, link = answer.headers.get("X-Next-Cursor", ""), answer.headers.get("Link") or link
        if not cursor:
            break
    refused = await journey.http.get(url, params={"limit": 0})

    assert len(whole) >= 3 and [len(p) for p in pages][:-1] == [2] * (len(pages) - 1)
    assert [event for p in pages for event in p] == whole
    assert link and link.endswith('>; rel="next"') and "cursor=2" in link and "limit=2" in link
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid")
