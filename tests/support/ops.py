"""Helpers for the operations tests: the `jusou` command as a process, /metrics parsed, JetStream read."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import nats
from prometheus_client.parser import text_string_to_metric_families

from jusou.runner import ROOT, Suite

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def jusou(suite: Suite, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `jusou` command against the suite, as an operator would (a new process)."""
    env = {k: v for k, v in suite.service_env().items() if k not in ("PYTHONPATH", "JUSOU_TEST_FAIL_FILE")}
    env["COLUMNS"] = "120"
    return subprocess.run([sys.executable, "-m", "jusou.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def jusou_json(suite: Suite, *args: str, code: int = 0) -> Any:
    done = jusou(suite, *args, "--json")
    assert done.returncode == code, f"jusou {' '.join(args)} exited {done.returncode}: {done.stderr}{done.stdout}"
    return json.loads(done.stdout)


async def scrape(client: httpx.AsyncClient, url: str) -> Samples:
    """GET /metrics, parsed with prometheus_client's own parser: (sample name, labels) → value."""
    response = await client.get(f"{url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the series does not exist yet (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def stream_messages(url: str, stream: str) -> list[Any]:
    """Every message of a stream, in order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        if not info.state.messages:
            return []
        return [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


def envelopes(messages: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(m.data) for m in messages]


async def jusou_in_process(suite: Suite, monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    """The `jusou` command's parser and handler in this process (a thread: they run their own event loop).

    Saves a process start per call; `jusou` above is the real command, for the calls that must be one.
    """
    import asyncio

    from jusou.cli import parser

    for key, val in suite.service_env().items():
        if key.startswith(("JUSOU_", "NATS_")) and key != "JUSOU_TEST_FAIL_FILE":
            monkeypatch.setenv(key, val)
    monkeypatch.setenv("COLUMNS", "120")
    capsys.readouterr()

    def run() -> int:
        parsed = parser().parse_args(list(args))
        try:
            return int(parsed.handler(parsed))
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else 1

    code = await asyncio.to_thread(run)
    out, err = capsys.readouterr()
    return code, out, err
