"""`python bench/http_inprocess.py [--tree DIR …]`: the CPU of one request through collaboration's ASGI app, in process.

No uvicorn, no sockets, no suite: collaboration's FastAPI app (`services.collaboration.main.api`) with an application on a
SQLite file of its own (no bus, as tests/unit/test_case_scope_cache.py drives it), its logging as the service's
(`configure_logging`: a command's line written to stderr), one case escalated, then the same
kinds of request as bench/http_costs.py (`get`, `scoped`, `missing`, `refused`; `post` and `postkey`, a note without and
with an Idempotency-Key, on a fresh case per repetition), each driven as an ASGI call on uvloop, and this process's CPU
(`time.process_time`, every thread: the worker threads' hops included) per request, the least of `--reps`
repetitions. What is left is our layers, FastAPI's, the thread hop and the use case: what a profile of a service
mixes with the server's and the bus's. Each tree runs in a child process of its own (its own `sys.path`), the trees
alternating, `--rounds` times; the table gives each kind's median and the ratio to the first tree (issue 19).

`--cprofile FILE` (this tree only) profiles `-n` requests of each kind on the loop's thread, by its own CPU clock: our
layers and FastAPI's, without the use case (run on a worker thread after the hop), and prints the dearest frames.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
KINDS = ("get", "scoped", "missing", "refused", "post", "postkey")

NOTE = {"contacted_at": "2026-11-01T10:00:00", "method": "電話", "counterpart": "本人", "content": "近況を聞いた"}


def child(tree: Path, n: int, reps: int, kinds: list[str], profile: str = "") -> dict[str, float]:
    """In the child: collaboration's app of `tree`, each kind's CPU per request in µs."""
    import asyncio
    import logging
    import time
    from types import SimpleNamespace
    from uuid import uuid4

    os.chdir(tree)
    if profile:  # bench/profile.py, first on the path as this script's folder, is not the standard library's
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
        import cProfile  # noqa: F401
    for extra in (str(tree / "tests"), str(tree)):
        sys.path.insert(0, extra)
    from support.auth import reader, staff_headers
    from support.journey import COORDINATOR
    from support.municipality import DISABILITY, ELDERLY
    from unit.builders import Upstream

    from services.collaboration.application import CollaborationApplication
    from services.collaboration.main import api

    logging.disable(logging.INFO)
    from shared.observe.logs import configure_logging
    configure_logging("collaboration")  # a command's `http.command` line costs what it costs in the service (stderr)
    folder = tempfile.mkdtemp(prefix="http-inprocess-")
    app = CollaborationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "JUSOU_READMODELS_FOLLOW": "0",
                                        "SQLITE_DBNAME": str(Path(folder) / "collaboration.sqlite")})
    upstream = Upstream("intake")

    def escalated() -> Any:
        case = uuid4()
        assert app.receive(*upstream.emit("CaseEscalated", {"reason": "8050", "concerns": ["高齢・介護"],
                                                            "primary_agency": ELDERLY.ja}, case))
        return case

    case_id = escalated()
    api.state.runtime = SimpleNamespace(app=app)

    def encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        return [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    note = json.dumps(NOTE).encode()
    coordinator = encoded(COORDINATOR)
    requests: dict[str, tuple[str, str, list[tuple[bytes, bytes]], bytes]] = {
        "get": ("GET", f"/cases/{case_id}", encoded(reader()), b""),
        "scoped": ("GET", f"/cases/{case_id}", encoded(staff_headers("kouki-098", ELDERLY.division, "coordinator")), b""),
        "missing": ("GET", "/cases/00000000-0000-4000-8000-000000000000", coordinator, b""),
        "refused": ("GET", f"/cases/{case_id}",
                    encoded(staff_headers("shogai-099", DISABILITY.division, "welfare_coordinator")), b""),
    }

    async def one(kind: str) -> int:
        method, path, headers, body = requests[kind if kind != "postkey" else "post"]
        if kind == "postkey":
            headers = [*headers, (b"idempotency-key", str(uuid4()).encode())]
        headers = [(b"host", b"collaboration"), *headers]
        if body:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {}}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await api(scope, receive, send)
        return int(sent[0]["status"])

    async def measure() -> dict[str, float]:
        found: dict[str, float] = {}
        for kind in kinds:
            count = n if not kind.startswith("post") else min(n, 30)  # a case's notes stay few
            best = float("inf")
            for _ in range(reps):
                if kind.startswith("post"):
                    requests["post"] = ("POST", f"/cases/{escalated()}/casework/notes", coordinator, note)
                statuses = {await one(kind) for _ in range(3)}
                began = time.process_time()
                for _ in range(count):
                    await one(kind)
                best = min(best, (time.process_time() - began) / count * 1e6)
            found[kind] = round(best, 1)
            found[f"{kind} status"] = sorted(statuses)  # type: ignore[assignment]
        return found

    async def profiled() -> dict[str, float]:
        """`n` requests of each kind under cProfile, the loop's thread only, timed by its own CPU clock: our layers and
        FastAPI's (the use case runs on a worker thread after the hop)."""
        import cProfile
        import pstats

        for kind in kinds:  # warm
            if kind.startswith("post"):
                requests["post"] = ("POST", f"/cases/{escalated()}/casework/notes", coordinator, note)
            for _ in range(3):
                await one(kind)
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        for kind in kinds:
            for i in range(n if not kind.startswith("post") else min(n, 30)):
                if kind.startswith("post") and i % 30 == 0:
                    requests["post"] = ("POST", f"/cases/{escalated()}/casework/notes", coordinator, note)
                await one(kind)
        profiler.disable()
        profiler.dump_stats(profile)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(50)
        return {}

    import uvloop
    uvloop.install()
    return asyncio.run(profiled() if profile else measure())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests of each kind per repetition (posts: at most 30)")
    parser.add_argument("--reps", type=int, default=7, help="repetitions per kind and round (the least is kept)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--tree", action="append", default=[], metavar="DIR")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cprofile", default="", metavar="FILE",
                        help="this tree only: cProfile `-n` requests of each of `--kinds` (one pass), stats to FILE")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if args.child is not None:
        print(json.dumps(child(args.child, args.n, args.reps, kinds, args.cprofile)))
        return
    if args.cprofile:
        os.environ.setdefault("JUSOU_AUTH_DIR", tempfile.mkdtemp(prefix="http-inprocess-auth-"))
        child(HERE, args.n, 1, kinds, str(Path(args.cprofile).resolve()))
        return
    auth = tempfile.mkdtemp(prefix="http-inprocess-auth-")  # one issuer for every tree's child
    trees = [str(HERE), *[str(Path(t).resolve()) for t in args.tree]]
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
    for i in range(args.rounds):
        for tree in trees if i % 2 == 0 else trees[::-1]:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", tree, "-n", str(args.n),
                                   "--reps", str(args.reps), "--kinds", ",".join(kinds)], capture_output=True,
                                  text=True, check=True, cwd=tree, env={**os.environ, "JUSOU_AUTH_DIR": auth})
            found = json.loads(done.stdout.strip().splitlines()[-1])
            results[tree].append(found)
            print(f"round {i + 1} {Path(tree).name}: " + ", ".join(
                f"{k} {found[k]:.1f} µs {found[k + ' status']}" for k in kinds), flush=True)
        print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"\nCPU per request in process, µs (median of {args.rounds} round(s), each the least of {args.reps})")
    print(f"{'':10}" + "".join(f"{Path(t).name:>12}" for t in trees) + "".join(f"{'÷ first':>10}" for _ in trees[1:]))
    for kind in kinds:
        medians = [statistics.median(r[kind] for r in results[t]) for t in trees]
        print(f"{kind:10}" + "".join(f"{m:12.1f}" for m in medians) + "".join(f"{m / medians[0]:10.3f}" for m in medians[1:]))


if __name__ == "__main__":
    main()
