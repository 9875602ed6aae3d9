"""`python bench/bus_costs.py`: the CPU of one publish (the relay) and of one delivery (the inbox), live (issue 19).

The whole suite's CPU per bus event (bench/commands.py) is mostly commands, commits and HTTP; what the relay
and the inbox add per message is a few percent of it, below that bench's noise on a shared machine. Here
each is measured alone, as it works in the suite (a message at a time, as commands commit and events
arrive, not a backlog), with the work around it subtracted thread by thread:

- `relay`: intake's application (SQLite) and its relay (shared/messaging/relay.py) on a real nats-server; a
  thread of its own commits N cases (received, consent, escalated: three commits, three public events each),
  one after another, waiting for each to be published. Per publish: this process's CPU less the committing
  thread's own (`time.thread_time`), over the messages published: the relay's loop, its store reads and
  thread hops, translating, the nats client, the acks.
- `inbox`: collaboration's inbox (shared/messaging/inbox.py, `JUSOU_INBOX_BATCH`, default 16 as `jusou up`)
  on a fresh store and durable consumer; a thread of its own (own loop, own connection) publishes N
  `CaseEscalated` one at a time, each once the one before is applied. Per delivery: this process's CPU
  less the publishing thread's and less the CPU spent inside `receive_many`/`receive` (the handlers, the
  commit): the pull, the headers, the parse, the thread hop, the ack, counting and logging.

- `bare`: `inbox`'s deliveries to a bare consumer on the same standing pull and connection set-up, each message acked
  and nothing else: what nats-py and the loop cost a delivery, the floor of `inbox`'s event-loop figures.
- `--callgrind` (`inbox`, `bare`): each round under valgrind's callgrind, instructions counted per thread over the
  measured phase only (`callgrind_control -i on|off`): repeatable whatever the machine's load, ~50x slower.

- `journey`: the whole suite (as `idle`) on a nats-server of its own with monitoring, N journeys
  (tests/support/journey.py, `--concurrency` at once, as bench/commands.py): the NATS messages into and out of
  nats-server per journey (`/varz`), and what they are, counted by a subscriber to `>` of the same account (its
  own copies taken off): the relays' publishes and their acks, deliveries, acks, standing pull requests and their
  status messages, the relays' tail checks (`STREAM.MSG.GET`) and other API calls and their replies, advisories;
  and nats-server's CPU per journey.
- `deliver`: outreach and participation alone (jusou.runner.Suite, SQLite, runs k = 16) and N `MeetingDecided` that
  neither reacts to (three of their four deliveries a journey), one every 40 ms: each process's CPU per delivery, less
  its idle CPU for as long (measured just before): what a delivered message costs a consumer, whole (inbox, commit,
  relay and read models woken, the nats client). `--seconds` other than 60: the idle window (6 s by default).
  With `JUSOU_BENCH_CPROFILE=<service>` and `JUSOU_BENCH_CPROFILE_OUT=<path>` in the environment that service runs
  under bench/cprofile_site (send it SIGUSR1 and SIGUSR2, by its pid: `<path>.a`, `<path>.b`).
- `idle`: the whole suite (jusou.runner.Suite, SQLite, `JUSOU_INBOX_BATCH` as `jusou up`) on a nats-server of its
  own with monitoring, doing nothing for `--seconds` after it is ready (and 5 s more): each process's CPU (user +
  system, /proc) and the server's messages in and out a second (`/varz`): what the consumers' pull requests cost
  while nothing happens (one request per consumer every 2 s with `fetch`; one per 15 s standing, shared/messaging/runs.py).

`--tree DIR` (repeatable) runs the same rounds on other source trees, alternately, each round in a child
process of that tree (as bench/commands.py); medians and ratios to the first tree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
STAFF = {"staff_id": "s-001", "division": "elderly-support"}


def _paths(root: Path) -> None:
    for extra in (str(root / "tests"), str(root)):
        if extra in sys.path:
            sys.path.remove(extra)
        sys.path.insert(0, extra)


def _case(intake: Any) -> None:
    case_id = intake.receive_consultation(STAFF, "houkatsu", "elderly-support", "窓口", ["高齢・介護"],
                                          {"name": "調布 花子"}, None)
    intake.record_consent(STAFF, case_id, "重層的支援会議での情報共有", True, "書面")
    intake.escalate_case(STAFF, case_id, "複合的な課題", "地域包括支援センター")


async def relay_round(url: str, data: Path, n: int) -> dict[str, float]:
    from services.intake.application import IntakeApplication
    from services.intake.translate import translate
    from shared.kernel.store import store_env
    from shared.messaging.bus import connect, ensure_streams
    from shared.messaging.relay import Relay
    from shared.settings import Settings

    os.environ["JUSOU_DATA_DIR"] = str(data)
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
    nc = await connect(url, "bench-relay")
    await ensure_streams(nc)
    relay = Relay(intake, translate, nc, poll_seconds=30.0)
    task = asyncio.create_task(relay.run())
    loop = asyncio.get_running_loop()
    published = asyncio.Event()
    committer: dict[str, float] = {}

    def commit_all(count: int, measure: bool) -> None:
        began = time.thread_time()
        for _ in range(count):
            target = relay.published + 3
            _case(intake)
            while relay.published < target:  # live: the next command once this one's events are out
                time.sleep(0.0005)
        if measure:
            committer["cpu"] = time.thread_time() - began
        loop.call_soon_threadsafe(published.set)

    try:
        await asyncio.to_thread(commit_all, 5, False)  # warm: the stream chained, the caches filled
        before, cpu = relay.published, time.process_time()
        published.clear()
        thread = threading.Thread(target=commit_all, args=(n, True))
        thread.start()
        await published.wait()
        used = time.process_time() - cpu
        thread.join()
        count = relay.published - before
        return {"published": count, "relay_cpu_us_per_publish": 1e6 * (used - committer["cpu"]) / count,
                "commit_cpu_us_per_case": 1e6 * committer["cpu"] / n,
                "handed_over": getattr(relay, "handed_over", 0)}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()


def escalations(data: Path, n: int) -> list[bytes]:
    """N `CaseEscalated` envelopes as intake's relay would publish them (bodies and subjects)."""
    from services.intake.application import IntakeApplication
    from services.intake.translate import translate
    from shared.kernel.store import store_env
    from shared.settings import Settings

    os.environ["JUSOU_DATA_DIR"] = str(data)
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
    try:
        for _ in range(n):
            _case(intake)
        found = []
        for notification in intake.recorder.select_notifications(start=1, limit=100 * n):
            envelope = translate(intake.mapper.to_domain_event(notification), notification.id)
            if envelope is not None:
                found.append(envelope)
        return found
    finally:
        intake.close()


async def inbox_round(url: str, data: Path, n: int, batch: int) -> dict[str, float]:
    from faststream.nats import NatsBroker

    from services.collaboration.application import CollaborationApplication
    from shared.contract.events import STREAM, envelope_json
    from shared.kernel.store import store_env
    from shared.messaging.bus import connect, ensure_streams
    from shared.messaging.inbox import Inbox
    from shared.messaging.relay import cloudevents_headers
    from shared.settings import Settings

    nc = await connect(url, "bench-streams")
    await ensure_streams(nc)
    await nc.close()
    envelopes = escalations(data / "intake", n + 5)
    os.environ["JUSOU_DATA_DIR"] = str(data / "collaboration")
    app = CollaborationApplication(env=store_env(Settings.from_env("collaboration")))
    inside = {"cpu": 0.0}
    applied = threading.Condition()
    counts = {"applied": 0}
    for name in ("receive_many", "receive"):
        original = getattr(app, name)

        def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            began = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                inside["cpu"] += time.thread_time() - began
                last = args[0][-1][0] if isinstance(args[0], list) else args[0]  # receive_many's run, or receive's
                with applied:
                    counts["applied"] = max(counts["applied"], last.source_position)
                    applied.notify_all()

        setattr(app, name, timed)
    broker = NatsBroker(url, logger=None)
    inbox = Inbox(app, broker, max_deliver=3, batch=batch)
    await broker.start()
    publisher: dict[str, float] = {}

    def publish_all(items: list[Any], measure: bool) -> None:
        async def go() -> None:
            import nats as nats_py

            nc = await nats_py.connect(url)
            js = nc.jetstream()
            began = time.thread_time()
            for envelope in items:
                await js.publish(envelope.subject, envelope_json(envelope), stream=STREAM,
                                 headers={"Nats-Msg-Id": str(envelope.event_id), **cloudevents_headers(envelope)})
                if envelope.event_type == "CaseEscalated":
                    with applied:
                        applied.wait_for(lambda e=envelope: counts["applied"] >= e.source_position, timeout=30)
            if measure:
                publisher["cpu"] = time.thread_time() - began
            await nc.close()

        asyncio.run(go())

    try:
        first = [e for e in envelopes if e.source_position <= envelopes[5 * 3 - 1].source_position]
        rest = envelopes[len(first):]
        await asyncio.to_thread(publish_all, first, False)  # warm
        server = _server_pid(url)
        profiles = _profiles(inbox) if os.environ.get("JUSOU_BENCH_PROFILE") else None
        if profiles is not None:
            await profiles.start()
        _callgrind("on")
        before_applied, before_inside, cpu = inbox.applied, inside["cpu"], time.process_time()
        loop_cpu, thread_cpu = time.thread_time(), await inbox.applying.run(time.thread_time)
        server_cpu = _cpu(server) if server else 0.0
        began = time.perf_counter()
        await asyncio.to_thread(publish_all, rest, True)
        expected = sum(1 for e in rest if e.event_type == "CaseEscalated")
        while inbox.applied - before_applied < expected:  # its ack and count follow the commit
            await asyncio.sleep(0.001)
        loop_cpu, thread_cpu = time.thread_time() - loop_cpu, await inbox.applying.run(time.thread_time) - thread_cpu
        used = time.process_time() - cpu
        _callgrind("off")
        wall = time.perf_counter() - began
        if profiles is not None:
            await profiles.stop(os.environ["JUSOU_BENCH_PROFILE"])
        server_used = (_cpu(server) - server_cpu) if server else 0.0
        deliveries = inbox.applied - before_applied
        handlers = inside["cpu"] - before_inside
        return {"deliveries": deliveries,
                "inbox_cpu_us_per_delivery": 1e6 * (used - publisher["cpu"] - handlers) / max(1, deliveries),
                "handler_cpu_us_per_delivery": 1e6 * handlers / max(1, deliveries),
                # the consumer's two threads, whole: its event loop (pull, parse, hop, ack, log) and its inbox thread
                # (the run's handlers and commit, and the hop's other end); the publisher's thread is neither
                "loop_cpu_us_per_delivery": 1e6 * loop_cpu / max(1, deliveries),
                "inbox_thread_cpu_us_per_delivery": 1e6 * thread_cpu / max(1, deliveries),
                "runs": inbox.runs,
                # nats-server's CPU over the same time: the publishes (3 a case) and the deliveries, acks, pull requests
                "nats_cpu_us_per_delivery": 1e6 * server_used / max(1, deliveries),
                "wall_ms_per_case": 1e3 * wall / max(1, deliveries)}  # publish to applied, one case at a time
    finally:
        await broker.stop()
        app.close()


async def bare_round(url: str, data: Path, n: int, batch: int) -> dict[str, float]:
    """`inbox`'s deliveries (the same bodies and headers, one case at a time) to a bare consumer: the same standing pull
    (runs.StandingPull) on the same connection set-up (bus.connect: nats-py with the suite's header parsing), each
    message acked and nothing else (no parse, no hop, no store, no line): what the libraries cost the event loop a
    delivery, the floor of `inbox`'s `loop_cpu_us_per_delivery` and its instructions."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from shared.contract.events import STREAM, envelope_json
    from shared.messaging.bus import connect, ensure_streams
    from shared.messaging.relay import cloudevents_headers
    from shared.messaging.runs import PULL_BATCH, StandingPull

    nc = await connect(url, "bench-bare")
    await ensure_streams(nc)
    envelopes = escalations(data / "intake", n + 5)
    await nc.jetstream().add_consumer(STREAM, ConsumerConfig(
        durable_name="bare--intake", filter_subject="jusou.intake.CaseEscalated", deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT, max_ack_pending=batch, ack_wait=5, max_deliver=-1))
    pull = StandingPull(nc, STREAM, "bare--intake", "_INBOX.bare", batch=max(PULL_BATCH, 4 * batch))
    await pull.start()
    acked = threading.Condition()
    count = {"acked": 0}

    async def consume() -> None:
        while True:
            for msg in await pull.get(2.0):
                await msg.ack()
                with acked:
                    count["acked"] += 1
                    acked.notify_all()

    consumer = asyncio.create_task(consume())
    publisher: dict[str, float] = {}

    def publish_all(items: list[Any], measure: bool) -> None:
        async def go() -> None:
            import nats as nats_py

            other = await nats_py.connect(url)
            js = other.jetstream()
            began = time.thread_time()
            for envelope in items:
                await js.publish(envelope.subject, envelope_json(envelope), stream=STREAM,
                                 headers={"Nats-Msg-Id": str(envelope.event_id), **cloudevents_headers(envelope)})
                if envelope.event_type == "CaseEscalated":
                    target = count["published"] = count.get("published", 0) + 1
                    with acked:
                        acked.wait_for(lambda t=target: count["acked"] >= t, timeout=30)
            if measure:
                publisher["cpu"] = time.thread_time() - began
            await other.close()

        asyncio.run(go())

    try:
        first = [e for e in envelopes if e.source_position <= envelopes[5 * 3 - 1].source_position]
        await asyncio.to_thread(publish_all, first, False)  # warm
        _callgrind("on")
        before, cpu, loop_cpu = count["acked"], time.process_time(), time.thread_time()
        await asyncio.to_thread(publish_all, envelopes[len(first):], True)
        loop_cpu, used = time.thread_time() - loop_cpu, time.process_time() - cpu
        _callgrind("off")
        deliveries = count["acked"] - before
        return {"deliveries": deliveries, "loop_cpu_us_per_delivery": 1e6 * loop_cpu / max(1, deliveries),
                "inbox_cpu_us_per_delivery": 1e6 * (used - publisher["cpu"]) / max(1, deliveries)}
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await pull.stop()
        await nc.close()


def _callgrind(state: str) -> None:
    """Under `--callgrind` (valgrind's callgrind, instrumentation off at the start): count instructions from here on
    (`on`) or no longer (`off`), so that only the measured phase is counted."""
    if os.environ.get("JUSOU_BENCH_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True, timeout=120)


#: callgrind's number for the publishing thread of `inbox_round`: valgrind numbers threads as they start (the lowest free
#: number), and the first thread started after the event loop's (01) is asyncio's default executor's, which the warm-up's
#: `to_thread(publish_all, …)` starts and the measured phase's reuses; the consumer's inbox thread and anyio's worker
#: start later (at the first delivery). The consumer's instructions are every thread's but this one.
PUBLISHER_THREAD = "02"


def callgrind_counts(folder: Path) -> dict[str, int]:
    """Instructions counted per thread (callgrind's `-<thread>` files: 01 the event loop, then threads as started)."""
    counts: dict[str, int] = {}
    for path in sorted(folder.glob("cg.out*")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                counts[path.name.rsplit("-", 1)[-1]] = int(line.split()[1])
                break
    return counts


class _profiles:
    """cProfile of the consumer's event loop and of its inbox thread over the measured phase (`JUSOU_BENCH_PROFILE=<path>`:
    `<path>.loop` and `<path>.inbox`, pstats files)."""

    def __init__(self, inbox: Any) -> None:
        here, sys.path[:] = sys.path[:], [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
        try:  # the standard library's, not bench/profile.py (this script's folder is first on the path)
            sys.modules.pop("profile", None)
            import cProfile
        finally:
            sys.path[:] = here

        self.inbox, self.loop, self.thread = inbox, cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)

    async def start(self) -> None:
        await self.inbox.applying.run(self.thread.enable)
        self.loop.enable()

    async def stop(self, path: str) -> None:
        self.loop.disable()
        await self.inbox.applying.run(self.thread.disable)
        self.loop.dump_stats(f"{path}.loop")
        self.thread.dump_stats(f"{path}.inbox")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sys_cpu(pid: int) -> float:
    """System CPU seconds of a process (the kernel's work for it: writes, fsyncs, polls), from /proc."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _server_pid(url: str) -> int | None:
    """The local nats-server listening on `url`'s port (its command line names the port), else None."""
    port = url.rsplit(":", 1)[-1]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if argv and argv[0].endswith(b"nats-server") and port.encode() in argv:
                    return int(proc.name)
    return None


#: (kind, test on a message's subject, reply and headers): what a NATS message seen on `>` is; first match wins.
KINDS: list[tuple[str, Any]] = [
    ("delivery (to a consumer's pull)", lambda s, r, h: r.startswith("$JS.ACK.")),  # with the event's own subject
    ("relay publish (jusou.<source>.<Type>)", lambda s, r, h: s.startswith("jusou.")),
    ("ack / in-progress / term ($JS.ACK)", lambda s, r, h: s.startswith("$JS.ACK.")),
    ("pull request (CONSUMER.MSG.NEXT)", lambda s, r, h: ".CONSUMER.MSG.NEXT." in s),
    ("pull status (408/409/100)", lambda s, r, h: bool(h) and "Status" in h and not r),
    ("tail check (STREAM.MSG.GET / DIRECT.GET)", lambda s, r, h: ".STREAM.MSG.GET." in s or ".DIRECT.GET." in s),
    ("other JetStream API request", lambda s, r, h: s.startswith("$JS.API.")),
    ("advisory ($JS.EVENT)", lambda s, r, h: s.startswith("$JS.EVENT.")),
    ("reply (publish acks, API answers)", lambda s, r, h: s.startswith("_INBOX")),
    ("dead letters / replays", lambda s, r, h: s.startswith("jusou-")),
]


def kind_of(subject: str, reply: str, headers: dict[str, str] | None) -> str:
    return next((kind for kind, test in KINDS if test(subject, reply or "", headers)), "other")


def journey_round(root: Path, n: int, concurrency: int, warm: int = 8) -> dict[str, Any]:
    """N journeys on the suite: NATS messages per journey at nats-server, by kind; CPU per process per journey."""
    import collections
    import urllib.request

    import httpx
    import nats as nats_py
    from support.auth import reader
    from support.journey import Journey
    from support.servers import free_port, nats_binary, wait_for_port

    from bench.load import Bus, env_for_store
    from jusou.runner import Suite

    def monitor(port: int, what: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{what}", timeout=5) as answer:
            found: dict[str, Any] = json.load(answer)
            return found

    names = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
    with tempfile.TemporaryDirectory(prefix="jusou-bench-journey-") as folder:
        base = Path(folder)
        port, mport = free_port(), free_port()
        server = subprocess.Popen([nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(mport), "-js",
                                   "-sd", str(base / "nats")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"nats://127.0.0.1:{port}"
        try:
            wait_for_port("127.0.0.1", port)
            extra = env_for_store("sqlite", base / "data") | {"JUSOU_INBOX_BATCH": "16"}
            os.environ.update(extra)
            with Suite(base / "data", nats_url=url, ports={name: free_port() for name in names}, services=names,
                       extra_env=extra) as suite:
                pids = {name: process.pid for name, process in suite.processes.items()} | {"nats": server.pid}

                async def drive() -> dict[str, Any]:
                    kinds: collections.Counter[str] = collections.Counter()
                    counting = [False]
                    spy = await nats_py.connect(url, name="bench-spy", pending_size=64 * 1024 * 1024)

                    async def seen(msg: Any) -> None:
                        if counting[0]:
                            kinds[kind_of(msg.subject, msg.reply, msg.headers)] += 1

                    await spy.subscribe(">", cb=seen, pending_msgs_limit=1_000_000)
                    bus = Bus(url, None, None)
                    await bus.open()
                    http = httpx.AsyncClient(timeout=30, trust_env=False, headers=reader())
                    journey = Journey({name: suite.url(name) for name in names}, http)

                    async def run(total: int) -> None:
                        queue = iter(range(total))

                        async def worker() -> None:
                            for _ in queue:
                                await journey.whole()

                        await asyncio.gather(*(worker() for _ in range(concurrency)))

                    try:
                        await run(warm)
                        await bus.drain(60)
                        await spy.flush()
                        await asyncio.sleep(0.5)
                        before_cpu, before = {k: _cpu(p) for k, p in pids.items()}, monitor(mport, "varz")
                        spy_before = spy.stats["in_msgs"]
                        counting[0] = True
                        began = time.perf_counter()
                        await run(n)
                        drained = await bus.drain(60)
                        wall = time.perf_counter() - began
                        await spy.flush()
                        await asyncio.sleep(0.3)
                        counting[0] = False
                        after_cpu, after = {k: _cpu(p) for k, p in pids.items()}, monitor(mport, "varz")
                        spy_got = spy.stats["in_msgs"] - spy_before
                    finally:
                        await http.aclose()
                        await bus.close()
                        await spy.close()
                    out_msgs = after["out_msgs"] - before["out_msgs"] - spy_got  # the spy's own copies off
                    return {"journeys": n, "drained": drained, "wall_s": round(wall, 2),
                            "nats_in_per_journey": round((after["in_msgs"] - before["in_msgs"]) / n, 2),
                            "nats_out_per_journey": round(out_msgs / n, 2),
                            "nats_cpu_ms_per_journey": round(1e3 * (after_cpu["nats"] - before_cpu["nats"]) / n, 3),
                            "suite_cpu_ms_per_journey": round(
                                1e3 * sum(after_cpu[k] - before_cpu[k] for k in pids) / n, 3),
                            "kinds_per_journey": {k: round(v / n, 2) for k, v in sorted(kinds.items())},
                            "cpu_ms_per_journey": {k: round(1e3 * (after_cpu[k] - before_cpu[k]) / n, 2) for k in pids}}

                return asyncio.run(drive())
        finally:
            server.terminate()
            server.wait(timeout=10)


def idle_round(root: Path, seconds: float) -> dict[str, Any]:
    """The suite idle for `seconds`: CPU per process, NATS messages in and out a second."""
    import urllib.request

    from support.servers import free_port, nats_binary, wait_for_port

    from bench.load import env_for_store
    from jusou.runner import Suite

    def varz(port: int) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=5) as answer:
            found: dict[str, Any] = json.load(answer)
            return found

    with tempfile.TemporaryDirectory(prefix="jusou-bench-idle-") as folder:
        base = Path(folder)
        port, monitor = free_port(), free_port()
        server = subprocess.Popen([nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-js",
                                   "-sd", str(base / "nats")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", port)
            names = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
            extra = env_for_store("sqlite", base / "data") | {"JUSOU_INBOX_BATCH": "16"}
            with Suite(base / "data", nats_url=f"nats://127.0.0.1:{port}", ports={n: free_port() for n in names},
                       services=names, extra_env=extra) as suite:
                time.sleep(5.0)
                pids = {name: process.pid for name, process in suite.processes.items()} | {"nats": server.pid}
                before, counts = {n: _cpu(p) for n, p in pids.items()}, varz(monitor)
                time.sleep(seconds)
                after, counted = {n: _cpu(p) for n, p in pids.items()}, varz(monitor)
        finally:
            server.terminate()
            server.wait(timeout=10)
    cpu = {n: 1e3 * (after[n] - before[n]) / seconds for n in pids}
    return {"idle_suite_cpu_ms_per_s": round(sum(v for n, v in cpu.items() if n != "nats"), 2),
            "idle_nats_cpu_ms_per_s": round(cpu["nats"], 2),
            "nats_in_msgs_per_s": round((counted["in_msgs"] - counts["in_msgs"]) / seconds, 2),
            "nats_out_msgs_per_s": round((counted["out_msgs"] - counts["out_msgs"]) / seconds, 2),
            **{f"cpu_ms_per_s_{n}": round(v, 2) for n, v in cpu.items()}}


def deliver_round(root: Path, n: int, gap: float = 0.04, idle: float = 6.0) -> dict[str, Any]:
    """Outreach's and participation's CPU per delivery of an event they react to with no effect (a `MeetingDecided`
    about another program's plan, connecting no one: three of their four deliveries a journey), in the suite's shape
    (jusou.runner.Suite, SQLite, runs k = 16, relay, read models), one every `gap` seconds: each process's CPU over
    the deliveries less its idle CPU for as long (measured just before), per delivery."""
    from uuid import uuid4

    import nats as nats_py
    from support.servers import free_port

    from bench.load import env_for_store
    from jusou.runner import Suite
    from shared.contract.events import STREAM, Actor, Envelope, MeetingDecidedV1, envelope_json
    from shared.messaging.relay import cloudevents_headers

    names = ("outreach", "participation")
    with tempfile.TemporaryDirectory(prefix="jusou-bench-deliver-") as folder:
        base = Path(folder)
        extra = env_for_store("sqlite", base / "data") | {"JUSOU_INBOX_BATCH": "16"}
        if os.environ.get("JUSOU_BENCH_CPROFILE"):  # bench/cprofile_site in that service (snapshots: SIGUSR1, SIGUSR2)
            extra["PYTHONPATH"] = os.pathsep.join([str(root / "bench" / "cprofile_site"), str(root)])
        os.environ.update(extra)
        with Suite(base / "data", nats_port=free_port(), ports={name: free_port() for name in names}, services=names,
                   extra_env=extra) as suite:
            pids = {name: process.pid for name, process in suite.processes.items()}
            user, password = suite.nats_operator()

            def body(position: int) -> Envelope:
                payload = MeetingDecidedV1(meeting_id=uuid4(), meeting_type="jusou_shien_kaigi", plan_id=uuid4(),
                                           decision="approved", attendees=["高齢福祉課"], reasons="",
                                           connect_to=[], program="collaboration", revision=1)
                return Envelope(event_id=uuid4(), event_type="MeetingDecided", schema_version=1, source="meeting",
                                source_position=position, case_id=uuid4(), occurred_at=datetime.now(UTC),
                                correlation_id=uuid4(), causation_id=None,
                                actor=Actor(staff_id="kaigi-001", division="fukushi-seisaku"),
                                payload=payload.model_dump(mode="json"))

            async def drive() -> dict[str, Any]:
                nc = await nats_py.connect(suite.nats_url, user=user, password=password, name="bench-deliver")
                js = nc.jetstream()

                async def publish(position: int) -> None:
                    envelope = body(position)
                    await js.publish(envelope.subject, envelope_json(envelope), stream=STREAM,
                                     headers={"Nats-Msg-Id": str(envelope.event_id), **cloudevents_headers(envelope)})

                async def settled(upto: int) -> None:
                    for _ in range(600):
                        floors = [(await js.consumer_info(STREAM, f"{name}--meeting")).ack_floor.stream_seq
                                  for name in names]
                        if min(floors) >= upto:
                            return
                        await asyncio.sleep(0.1)
                    raise TimeoutError("the consumers did not ack every delivery")

                try:
                    for position in range(1, 11):  # warm: consumers made, the first store reads done
                        await publish(position)
                        await asyncio.sleep(gap)
                    await settled(10)
                    await asyncio.sleep(1.0)
                    before = {k: _cpu(p) for k, p in pids.items()}
                    await asyncio.sleep(idle)
                    idle_used = {k: _cpu(p) - before[k] for k, p in pids.items()}
                    before = {k: _cpu(p) for k, p in pids.items()}
                    before_sys = {k: _sys_cpu(p) for k, p in pids.items()}
                    began = time.perf_counter()
                    for position in range(11, 11 + n):
                        await publish(position)
                        await asyncio.sleep(gap)
                    await settled(10 + n)
                    wall = time.perf_counter() - began
                    used = {k: _cpu(p) - before[k] for k, p in pids.items()}
                    used_sys = {k: _sys_cpu(p) - before_sys[k] for k, p in pids.items()}
                finally:
                    await nc.close()
                out: dict[str, Any] = {"deliveries": n, "wall_s": round(wall, 2)}
                for name in names:
                    idle_rate = idle_used[name] / idle
                    out[f"{name}_idle_cpu_ms_per_s"] = round(1e3 * idle_rate, 2)
                    out[f"{name}_cpu_us_per_delivery_raw"] = round(1e6 * used[name] / n, 1)
                    out[f"{name}_sys_cpu_us_per_delivery_raw"] = round(1e6 * used_sys[name] / n, 1)
                    out[f"{name}_cpu_us_per_delivery"] = round(1e6 * (used[name] - idle_rate * wall) / n, 1)
                out["cpu_us_per_delivery"] = round(sum(out[f"{name}_cpu_us_per_delivery"] for name in names) / len(names), 1)
                return out

            return asyncio.run(drive())


def one_round(root: Path, what: str, n: int, batch: int, seconds: float = 60.0, concurrency: int = 4) -> dict[str, Any]:
    _paths(root)
    if what == "idle":
        return idle_round(root, seconds)
    if what == "journey":
        return journey_round(root, n, concurrency)
    if what == "deliver":
        return deliver_round(root, n, idle=min(seconds, 60.0) if seconds != 60.0 else 6.0)
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(20))  # info lines built, as in a service
    if what in ("inbox", "bare"):  # the consumer as a service runs it: its log lines rendered and written, on uvloop
        import uvloop

        from shared.observe.logs import configure_logging

        configure_logging("collaboration")
        uvloop.install()
    from support.servers import nats_server

    from bench.load import env_for_store

    with tempfile.TemporaryDirectory(prefix="jusou-bench-bus-") as folder:
        base = Path(folder)
        with nats_server(base / "nats") as nats:
            os.environ.update(env_for_store("sqlite", base / "data") | {"NATS_URL": nats.url})
            os.environ["JUSOU_READMODELS_FOLLOW"] = "0"  # their thread's CPU is neither the relay's nor the inbox's
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                if what == "relay":
                    return asyncio.run(relay_round(nats.url, base / "data", n))
                if what == "bare":
                    return asyncio.run(bare_round(nats.url, base / "data", n, batch))
                return asyncio.run(inbox_round(nats.url, base / "data", n, batch))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/bus_costs.py", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("relay", "inbox", "bare", "idle", "journey", "deliver"))
    parser.add_argument("--concurrency", type=int, default=4, help="journey: journeys at once")
    parser.add_argument("--seconds", type=float, default=60.0, help="idle: how long the suite is measured")
    parser.add_argument("-n", type=int, default=100, help="cases (relay: 3 publishes each) or deliveries (inbox)")
    parser.add_argument("--batch", type=int, default=16, help="the inbox's JUSOU_INBOX_BATCH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], metavar="DIR")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--one", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", action="store_true",
                        help="inbox: count the instructions of the measured phase with valgrind's callgrind (~50x slower; "
                             "repeatable whatever the machine's load), per thread")
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one_round(args.one, args.what, args.n, args.batch, args.seconds, args.concurrency)))
        return
    key = {"relay": "relay_cpu_us_per_publish",
           "inbox": "instructions_per_delivery_consumer" if args.callgrind else "inbox_cpu_us_per_delivery",
           "bare": "instructions_per_delivery_consumer" if args.callgrind else "loop_cpu_us_per_delivery",
           "idle": "idle_suite_cpu_ms_per_s", "journey": "nats_in_per_journey",
           "deliver": "cpu_us_per_delivery"}[args.what]
    trees = [str(HERE), *[str(Path(t).resolve()) for t in args.tree]]
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
    for i in range(args.rounds):
        for tree in trees:
            load = os.getloadavg()[0]
            counted = Path(tempfile.mkdtemp(prefix="jusou-bench-callgrind-")) if args.callgrind else None
            wrap = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
                    f"--callgrind-out-file={counted}/cg.out"] if counted else []
            done = subprocess.run([*wrap, sys.executable, str(Path(__file__).resolve()), args.what, "-n", str(args.n),
                                   "--batch", str(args.batch), "--seconds", str(args.seconds),
                                   "--concurrency", str(args.concurrency), "--one", tree],
                                  cwd=tree, capture_output=True, text=True, timeout=3600 if counted else 900, check=False,
                                  env=os.environ | {"PYTHONPATH": tree} | ({"JUSOU_BENCH_CALLGRIND": "1"} if counted else {}))
            try:
                found = json.loads(done.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                raise SystemExit(f"round {i + 1} on {tree} failed (exit {done.returncode}):\n{done.stderr[-3000:]}") from None
            found["load"] = round(load, 1)
            if counted is not None:  # instructions a delivery, per thread and the consumer's in all (`callgrind_counts`)
                threads = callgrind_counts(counted)
                per = max(1, found.get("deliveries", 1))
                found["instructions_per_delivery"] = {t: round(c / per) for t, c in threads.items()}
                found["instructions_per_delivery_consumer"] = round(
                    sum(c for t, c in threads.items() if t != PUBLISHER_THREAD) / per)
                shutil.rmtree(counted, ignore_errors=True)
            results[tree].append(found)
            print(f"round {i + 1} {Path(tree).name}: {json.dumps(found)}", file=sys.stderr)
    medians = {t: statistics.median(r[key] for r in results[t]) for t in trees}
    first = medians[trees[0]]
    for tree in trees:
        pairs = [round(b[key] / a[key], 2) for a, b in zip(results[trees[0]], results[tree], strict=True)]
        print(f"{Path(tree).name:>12}: {key} median {medians[tree]:8.1f}  ÷ first {medians[tree] / first:5.2f}  "
              f"(per round {pairs})")
    if args.what == "journey":  # what the messages are, per journey (medians), each tree beside the first
        kinds = sorted({k for t in trees for r in results[t] for k in r["kinds_per_journey"]})
        rows = [("NATS messages in", "nats_in_per_journey"), ("NATS messages out", "nats_out_per_journey"),
                ("nats-server CPU (ms)", "nats_cpu_ms_per_journey")]
        for label, field in rows:
            values = [statistics.median(r[field] for r in results[t]) for t in trees]
            print(f"{label:>44}: " + "  ".join(f"{v:8.2f}" for v in values))
        for kind in kinds:
            values = [statistics.median(r["kinds_per_journey"].get(kind, 0.0) for r in results[t]) for t in trees]
            print(f"{kind[:44]:>44}: " + "  ".join(f"{v:8.2f}" for v in values))
    if args.json:
        args.json.write_text(json.dumps({"trees": trees, "rounds": results, "medians": medians}, indent=1))


if __name__ == "__main__":
    main()
