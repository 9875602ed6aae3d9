"""`python bench/atomic_batch.py`: would NATS atomic batch publish help the relay? (issue 19; docs/capacity.md §5)

Against the suite's nats-server (a stream with `allow_atomic`; nats-py has no API for it, so the
`Nats-Batch-*` headers are set by hand), it checks what the relay would rely on and times it:
- the order-keeping chain (`Nats-Expected-Last-Subject-Sequence`) on a batch's first message, a wrong
  one refused with nothing stored, the same on a later message of the batch;
- a batch holding a `Nats-Msg-Id` already in the duplicate window;
- per message: publish + ack one at a time (the relay today) against atomic batches of 8 and 64.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import nats
from nats.aio.client import Client
from support.servers import free_port, nats_binary, wait_for_port

OURS = "jusou.intake.>"


def chain(seq: int) -> dict[str, str]:
    return {"Nats-Expected-Last-Subject-Sequence": str(seq), "Nats-Expected-Last-Subject-Sequence-Subject": OURS}


async def batch(nc: Client, messages: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """Publish `(subject, headers)` as one atomic batch; the commit's answer."""
    batch_id = uuid.uuid4().hex
    for number, (subject, headers) in enumerate(messages, 1):
        marks = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(number), **headers}
        if number < len(messages):
            await nc.publish(subject, b"x" * 600, headers=marks)
    marks["Nats-Batch-Commit"] = "1"
    answer: dict[str, Any] = json.loads((await nc.request(subject, b"x" * 600, headers=marks, timeout=5)).data)
    return answer


async def last_seq(nc: Client) -> int:
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.S", b"", timeout=2)).data)
    return int(info["state"]["last_seq"])


async def probe(url: str, rounds: int) -> dict[str, Any]:
    nc = await nats.connect(url)
    out: dict[str, Any] = {}
    try:
        config = {"name": "S", "subjects": ["jusou.>"], "storage": "file", "allow_atomic": True}
        await nc.request("$JS.API.STREAM.CREATE.S", json.dumps(config).encode(), timeout=2)
        js = nc.jetstream()
        await js.publish("jusou.other.X", b"o", headers={"Nats-Msg-Id": "o1"})
        ok = await batch(nc, [("jusou.intake.A", {"Nats-Msg-Id": "e1", **chain(0)}), ("jusou.intake.A", {"Nats-Msg-Id": "e2"})])
        out["chain_on_first_accepted"] = "error" not in ok and ok.get("seq") == await last_seq(nc)
        head = await last_seq(nc)
        wrong = await batch(nc, [("jusou.intake.A", {"Nats-Msg-Id": "e3", **chain(head - 1)}),
                                 ("jusou.intake.A", {"Nats-Msg-Id": "e4"})])
        out["wrong_chain_refused_nothing_stored"] = "error" in wrong and await last_seq(nc) == head
        later = await batch(nc, [("jusou.intake.A", {"Nats-Msg-Id": "e3", **chain(head)}),
                                 ("jusou.intake.A", {"Nats-Msg-Id": "e4", **chain(head + 1)})])
        out["chain_on_a_later_message"] = later.get("error", {}).get("description", "accepted")
        duplicate = await batch(nc, [("jusou.intake.A", {"Nats-Msg-Id": "e2", **chain(head)}),
                                     ("jusou.intake.A", {"Nats-Msg-Id": "e3"})])
        out["batch_with_a_duplicate_id"] = duplicate.get("error", {}).get("description", "accepted")

        n = 0
        per: dict[str, list[float]] = {"one_by_one": [], "batch_8": [], "batch_64": []}
        for _ in range(rounds):
            for size in (8, 64):
                began = time.perf_counter()
                for _ in range(size):
                    n += 1
                    await js.publish("jusou.intake.B", b"x" * 600, headers={"Nats-Msg-Id": f"m{n}"})
                per["one_by_one"].append((time.perf_counter() - began) * 1000 / size)
                began = time.perf_counter()
                messages = []
                for _ in range(size):
                    n += 1
                    messages.append(("jusou.intake.B", {"Nats-Msg-Id": f"m{n}"}))
                assert "error" not in await batch(nc, messages)
                per[f"batch_{size}"].append((time.perf_counter() - began) * 1000 / size)
        out["ms_per_message_median"] = {kind: round(statistics.median(values), 3) for kind, values in per.items()}
    finally:
        await nc.close()
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="jusou-atomic-") as folder:
        port = free_port()
        proc = subprocess.Popen([nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", folder],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", port)
            found = asyncio.run(probe(f"nats://127.0.0.1:{port}", rounds=6))
            found["load"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(json.dumps(found, indent=2))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
