"""`python bench/http_instructions.py [--tree DIR …]`: instructions per request through collaboration's ASGI app, in
process, counted by valgrind's callgrind (issue 19).

The same requests as bench/http_inprocess.py (`get`, `scoped`, `missing`, `refused`, `post`; collaboration's FastAPI app
on a SQLite file of its own, no uvicorn, sockets or bus, its logging as the service's), but counted in instructions
(every thread: the worker threads' hops and the use case included) rather than CPU time: a count does not move with
the machine's load, so two trees can be compared on a machine that other work keeps busy, where CPU times of a few
hundred microseconds do not resolve a 5 % change. Each tree and kind runs in a process of its own under callgrind
(`--instr-atstart=no`), warmed by `--warm` requests before counting starts (`callgrind_control -i on`), the trees
alternating, `--rounds` times; the table gives each kind's median and the ratio to the first tree. Slow: a round of
five kinds is about a minute per tree. `--kinds meeting,shien`: the meeting's app instead, on the service's own store
settings (`store_env`: its lean SQLite recorders, cipher and transcoder), `GET /meetings/{id}` of a 重層的支援会議 read
by its secretariat (as the journey reads it before each decision) and of a 支援会議 by a member.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
KINDS = ("get", "scoped", "missing", "refused", "post")
#: the meeting's app instead of collaboration's: `meeting` (GET /meetings/{id} of a 重層的支援会議, its secretariat, as
#: the journey reads it before each decision), `shien` (a 支援会議's, read by a member); not among the default kinds
MEETING_KINDS = ("meeting", "shien")
NOTE = {"contacted_at": "2026-11-01T10:00:00", "method": "電話", "counterpart": "本人", "content": "近況を聞いた"}


def counted(tree: Path, kind: str, n: int, warm: int) -> None:
    """In the child, under callgrind: `warm` requests of `kind`, then `n` counted."""
    import logging
    from types import SimpleNamespace
    from uuid import uuid4

    os.chdir(tree)
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
    configure_logging("meeting" if kind in MEETING_KINDS else "collaboration")
    folder = tempfile.mkdtemp(prefix="http-instructions-")
    if kind in MEETING_KINDS:
        from datetime import date

        from support.auth import staff_headers as meeting_staff
        from support.municipality import LEAD, LEAD_NAME

        from services.meeting.application import MeetingApplication
        from services.meeting.main import api as meeting_api
        from shared.kernel.store import store_env
        from shared.settings import Settings
        os.environ["JUSOU_DATA_DIR"] = folder  # the service's own store settings (its lean recorders, cipher)
        meeting_app = MeetingApplication(env=store_env(Settings.from_env("meeting")) | {"JUSOU_READMODELS_FOLLOW": "0"})
        secretariat = {"staff_id": "kaigi-001", "division": LEAD}
        meeting_id = meeting_app.convene(secretariat, "jusou_shien_kaigi" if kind == "meeting" else "shien_kaigi",
                                         date(2026, 11, 28), [LEAD_NAME, ELDERLY.ja] if kind == "meeting" else [LEAD_NAME])
        meeting_api.state.runtime = SimpleNamespace(app=meeting_app)
        return serve(meeting_api, "meeting", {kind: ("GET", f"/meetings/{meeting_id}", [
            (k.lower().encode(), v.encode()) for k, v in meeting_staff("kaigi-001", LEAD, "secretariat").items()], b"")},
            kind, n, warm)
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
    requests = {
        "get": ("GET", f"/cases/{case_id}", encoded(reader()), b""),
        "scoped": ("GET", f"/cases/{case_id}", encoded(staff_headers("kouki-098", ELDERLY.division, "coordinator")), b""),
        "missing": ("GET", "/cases/00000000-0000-4000-8000-000000000000", coordinator, b""),
        "refused": ("GET", f"/cases/{case_id}",
                    encoded(staff_headers("shogai-099", DISABILITY.division, "welfare_coordinator")), b""),
    }
    notes = f"/cases/{escalated()}/casework/notes"
    requests["post"] = ("POST", notes, coordinator, note)
    serve(api, "collaboration", requests, kind, n, warm)


def serve(api: Any, host: str, requests: dict[str, tuple[str, str, list[tuple[bytes, bytes]], bytes]], kind: str,
          n: int, warm: int) -> None:
    """In the child: `warm` requests of `kind` through `api`, then `n` counted (callgrind's instrumentation on)."""
    import asyncio

    async def one() -> int:
        method, path, headers, body = requests[kind]
        headers = [(b"host", host.encode()), *headers]
        if body:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {}}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await api(scope, receive, send)
        return int(sent[0]["status"])

    def control(switch: str) -> None:
        subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True,
                       timeout=300)

    async def run() -> list[int]:
        statuses = [await one() for _ in range(warm)]
        control("on")
        for _ in range(n):
            await one()
        control("off")
        return sorted(set(statuses))

    import uvloop
    uvloop.install()
    print(json.dumps({"statuses": asyncio.run(run())}), flush=True)


def instructions(tree: str, kind: str, n: int, warm: int, auth: str) -> tuple[float, list[int]]:
    folder = Path(tempfile.mkdtemp(prefix="jusou-bench-http-cg-"))
    done = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={folder}/cg.out",
                           sys.executable, str(Path(__file__).resolve()), "--child", tree, "--kind", kind, "-n", str(n),
                           "--warm", str(warm)], capture_output=True, text=True, check=True, cwd=tree, timeout=1800,
                          env={**os.environ, "JUSOU_AUTH_DIR": auth})
    statuses = json.loads(done.stdout.strip().splitlines()[-1])["statuses"]
    total = 0
    for path in folder.glob("cg.out*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
                break
    return total / n, statuses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="requests counted per kind (posts: notes on one case)")
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--tree", action="append", default=[], metavar="DIR")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        counted(args.child, args.kind, args.n, args.warm)
        return
    kinds = [k for k in args.kinds.split(",") if k]
    auth = tempfile.mkdtemp(prefix="http-instructions-auth-")  # one issuer for every tree's child
    trees = [str(HERE), *[str(Path(t).resolve()) for t in args.tree]]
    results: dict[str, dict[str, list[float]]] = {t: {k: [] for k in kinds} for t in trees}
    for i in range(args.rounds):
        for kind in kinds:
            for tree in trees if i % 2 == 0 else trees[::-1]:
                per, statuses = instructions(tree, kind, args.n, args.warm, auth)
                results[tree][kind].append(per)
                print(f"round {i + 1} {Path(tree).name} {kind}: {per / 1000:.1f} k instructions {statuses}", flush=True)
    print(f"\nInstructions per request in process, thousands (median of {args.rounds} round(s), n = {args.n})")
    print(f"{'':10}" + "".join(f"{Path(t).name:>12}" for t in trees) + "".join(f"{'÷ first':>10}" for _ in trees[1:]))
    for kind in kinds:
        medians = [statistics.median(results[t][kind]) for t in trees]
        print(f"{kind:10}" + "".join(f"{m / 1000:12.1f}" for m in medians)
              + "".join(f"{m / medians[0]:10.3f}" for m in medians[1:]))


if __name__ == "__main__":
    main()
