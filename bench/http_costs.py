"""`python bench/http_costs.py`: the CPU of one HTTP request in a service, by kind (issue 19).

A suite (`jusou.runner.Suite`, SQLite, a temporary folder) from a source tree; then, one after the other on one
keep-alive connection, N requests of each kind to collaboration, and the collaboration process's CPU (user +
system, /proc) over them:

- `get`: `GET /cases/{id}` of a case it holds, by an auditor (every division: no scope read), as the tests' and the
  bench's journeys read;
- `scoped`: the same by a coordinator of a division the case names (the scope's read, then the route's);
- `missing`: `GET /cases/{id}` of a case it does not hold, by a coordinator of the lead division (the route's 404;
  an outsider's is a 403: the scope does not say which cases exist);
- `refused`: `GET /cases/{id}` by a 地域福祉コーディネーター of a division the case does not name (403);
- `post`: `POST /cases/{id}/casework/notes` (a command: the body, the Idempotency-Key, one event written), spread
  over a few cases so that no case file grows past 50 notes.

`--tree DIR` starts another tree's suite (a `git archive` of an earlier commit) beside this one's, and the requests
alternate between the two in blocks (`--block`, A B A B …), so that a loaded machine's load falls on both alike;
the table gives each kind's median CPU per request and the ratio to the first tree. `--cprofile KIND` profiles
collaboration over that kind's requests (first tree, first round) and prints where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
KINDS = ("get", "scoped", "missing", "refused", "post")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Served:
    """A suite of one tree, started by a child process whose sys.path is that tree's (`--serve`)."""

    def __init__(self, tree: str, profile: bool) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", tree]
        if profile:
            command.append("--cprofile-served")
        self.tree = tree
        self.proc = subprocess.Popen(command, cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the suite of {tree} did not start")
        found = json.loads(line)
        self.urls: dict[str, str] = found["urls"]
        self.pid: int = found["pid"]
        self.profile_out: str = found.get("profile_out", "")

    def close(self) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        self.proc.wait(timeout=120)
        return rest.strip()


def serve(tree: Path, profile: bool) -> None:
    """The child: start the suite from `tree`, say where it is (on stdout: everything else goes to stderr), stop it
    when stdin closes."""
    told = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for extra in (str(tree / "tests"), str(tree)):
        sys.path.insert(0, extra)
    from support.servers import free_port

    from bench.load import env_for_store, suite_pids
    from jusou.runner import Suite

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        extra = env_for_store("sqlite", data)
        out = str(Path(folder) / "cprof")
        if profile:
            extra |= {"JUSOU_BENCH_CPROFILE": "collaboration", "JUSOU_BENCH_CPROFILE_OUT": out,
                      "PYTHONPATH": str(HERE / "bench" / "cprofile_site")}
        os.environ.update(extra)
        suite = Suite(data, nats_port=free_port(), ports={name: free_port() for name in SERVICES}, extra_env=extra)
        suite.start()
        try:
            print(json.dumps({"urls": {name: suite.url(name) for name in SERVICES},
                              "pid": suite_pids(suite)["collaboration"], "profile_out": out if profile else ""}),
                  file=told, flush=True)
            sys.stdin.read()
        finally:
            suite.stop()
        if profile:
            sys.path.insert(0, str(HERE))
            from bench.commands import _cprofile_diff
            made = _cprofile_diff(out)
            if made:
                kept = Path(tempfile.gettempdir()) / "http_costs.pstats"
                Path(made).replace(kept)
                print(kept, file=told, flush=True)


SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def _limits() -> Any:
    """An idle connection let go after 2 s, under uvicorn's 5 s keep-alive: never one the server has just closed."""
    import httpx
    return httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)


async def _prepare(served: Served, n: int, post_every: int) -> dict[str, Any]:
    """Cases on one suite, and the requests of each kind (method, url, headers)."""
    import httpx
    from support.auth import reader, staff_headers
    from support.journey import COORDINATOR, Journey
    from support.municipality import DISABILITY, ELDERLY

    base = served.urls["collaboration"]
    inside = staff_headers("kouki-098", ELDERLY.division, "coordinator")
    outsider = staff_headers("shogai-099", DISABILITY.division, "welfare_coordinator")
    async with httpx.AsyncClient(timeout=30, trust_env=False, limits=_limits(), headers=reader()) as client:
        journey = Journey(served.urls, client)
        cases = []
        for _ in range(max(1, n // post_every)):
            case = await journey.receive_and_escalate()
            await journey.get_when("collaboration", f"/cases/{case}", lambda c: c["status"] == "open", "open")
            cases.append(case)
    return {
        "get": ("GET", [f"{base}/cases/{cases[0]}"], reader()),
        "scoped": ("GET", [f"{base}/cases/{cases[0]}"], inside),
        "missing": ("GET", [f"{base}/cases/00000000-0000-4000-8000-000000000000"], COORDINATOR),
        "refused": ("GET", [f"{base}/cases/{cases[0]}"], outsider),
        "post": ("POST", [f"{base}/cases/{case}/casework/notes" for case in cases], COORDINATOR),
    }


NOTE = {"contacted_at": "2026-11-01T10:00:00", "method": "電話", "counterpart": "本人", "content": "近況を聞いた"}


async def _block(client: Any, kind: tuple[str, list[str], dict[str, str]], start: int, count: int) -> set[int]:
    method, urls, headers = kind
    statuses = set()
    for i in range(start, start + count):
        url = urls[i % len(urls)]
        r = await (client.post(url, json=NOTE, headers=headers) if method == "POST" else client.get(url, headers=headers))
        statuses.add(r.status_code)
    return statuses


async def _measure(suites: list[Served], n: int, block: int, post_every: int, profile: str,
                   spy: str = "") -> dict[str, Any]:
    """Each kind: blocks of `block` requests to each suite in turn (A B A B …), the CPU of each suite's
    collaboration summed over its blocks."""
    import signal

    import httpx

    kinds = [await _prepare(s, n, post_every) for s in suites]
    await asyncio.sleep(1)  # the escalations' events settled
    found: dict[str, Any] = {s.tree: {} for s in suites}
    async with httpx.AsyncClient(timeout=30, trust_env=False, limits=_limits()) as client:
        for kind in KINDS:
            for s, k in zip(suites, kinds, strict=True):
                found[s.tree][f"{kind} status"] = sorted(await _block(client, k[kind], 0, 20))
            if kind == profile:
                os.kill(suites[0].pid, signal.SIGUSR1)
                await asyncio.sleep(0.5)
            spying = None
            if kind == spy:
                from bench.commands import _spy_start
                spying = _spy_start("collaboration", suites[0].pid)
            spent = [0.0 for _ in suites]
            for start in range(0, n, block):
                for j, (s, k) in enumerate(zip(suites, kinds, strict=True)):
                    before = _cpu(s.pid)
                    statuses = await _block(client, k[kind], start, min(block, n - start))
                    spent[j] += _cpu(s.pid) - before
                    if statuses != set(found[s.tree][f"{kind} status"]):
                        found[s.tree][f"{kind} status"] = sorted(statuses | set(found[s.tree][f"{kind} status"]))
            if spying is not None:
                from bench.commands import _spy_stop
                found[suites[0].tree]["spy"] = _spy_stop(spying)
            if kind == profile:
                os.kill(suites[0].pid, signal.SIGUSR2)
                await asyncio.sleep(1)
            for s, cpu in zip(suites, spent, strict=True):
                found[s.tree][kind] = 1000 * cpu / n
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests of each kind per round and tree")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--block", type=int, default=100, help="requests to one suite before the other's turn")
    parser.add_argument("--tree", action="append", default=[], metavar="DIR")
    parser.add_argument("--post-every", type=int, default=50, help="notes per case (a case per this many posts)")
    parser.add_argument("--cprofile", default="", choices=("", *KINDS))
    parser.add_argument("--spy", default="", choices=("", *KINDS),
                        help="py-spy (--gil) collaboration of the first tree over this kind (first round)")
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cprofile-served", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.cprofile_served)
        return
    for extra in (str(HERE / "tests"), str(HERE)):
        sys.path.insert(0, extra)
    auth = tempfile.TemporaryDirectory(prefix="http-costs-auth-")  # one issuer: a token is good at every suite
    os.environ["JUSOU_AUTH_DIR"] = auth.name
    trees = [str(HERE), *[str(Path(t).resolve()) for t in args.tree]]
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
    load: list[str] = []
    profiled = ""
    for i in range(args.rounds):
        order = trees if i % 2 == 0 else trees[::-1]  # who goes first in each block alternates by round
        suites: list[Served] = []
        try:
            for tree in order:
                suites.append(Served(tree, bool(args.cprofile) and i == 0 and tree == trees[0]))
            load.append(" ".join(f"{x:.2f}" for x in os.getloadavg()))
            found = asyncio.run(_measure(suites, args.n, args.block, args.post_every,
                                         args.cprofile if i == 0 and order[0] == trees[0] else "",
                                         args.spy if i == 0 else ""))
            load[-1] += " → " + " ".join(f"{x:.2f}" for x in os.getloadavg())
        finally:
            for s in suites:
                out = s.close()
                if out:
                    profiled = out.splitlines()[-1]
        for tree in trees:
            results[tree].append(found[tree])
            print(f"round {i + 1} {Path(tree).name}: " + ", ".join(
                f"{k} {found[tree][k]:.3f} ms {found[tree][k + ' status']}" for k in KINDS), flush=True)
        print(f"  load average {load[-1]}", flush=True)
    width = 10
    print(f"\nCPU of collaboration per request, ms (median of {args.rounds} round(s), n = {args.n} each, "
          f"blocks of {args.block} alternating)")
    print(f"{'':{width}}" + "".join(f"{Path(t).name:>10}" for t in trees) + "".join(f"{'÷ first':>10}" for _ in trees[1:]))
    for kind in KINDS:
        meds = [statistics.median(r[kind] for r in results[t]) for t in trees]
        print(f"{kind:{width}}" + "".join(f"{m:10.3f}" for m in meds) + "".join(f"{m / meds[0]:10.3f}" for m in meds[1:]))
    for kind in KINDS:
        ratios = [r1[kind] / r0[kind] for r0, r1 in zip(results[trees[0]], results[trees[-1]], strict=True)] \
            if len(trees) > 1 else []
        if ratios:
            print(f"  {kind}: per-round ratio {Path(trees[-1]).name} ÷ {Path(trees[0]).name}: "
                  + ", ".join(f"{x:.3f}" for x in ratios))
    print(f"load averages (1, 5, 15 min) at each round's start → end: {'; '.join(load)}")
    spied = results[trees[0]][0].get("spy") if results[trees[0]] else None
    if spied:
        from bench.commands import print_profile
        print(f"\npy-spy of {Path(trees[0]).name}'s collaboration over {args.spy}")
        print_profile(spied, 45)
    if profiled:
        import pstats
        print(f"\ncProfile of {Path(trees[0]).name}'s collaboration over {args.cprofile} ({profiled})")
        pstats.Stats(profiled).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()
