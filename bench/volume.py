"""A year of the city's use, then everything that lists or aggregates (session 24, HF): figures, no verdicts.

Starts a `jusou up` of its own (own data folder, own ports, never 4222), loads it through the public API as staff
would (consultations, most escalated; plans proposed and decided at meetings; outreach engagements with contacts;
community places with sessions), and times every GET that needs no id (each service's JSON lists, its pages, CSVs,
figures) plus the per-case reads, first at a baseline (`--baseline` cases) then at `--cases`, in the same run, and
prints the ratio. Then: RSS of each service, bad paging parameters (which status each answer gives), the CLI
(`jusou status`, `report`, `audit journey`, `backup`, `replay` with the suite stopped, `restore`) and start-up with
the year's data.

    PYTHONPATH=tests .venv/bin/python bench/volume.py --cases 5000 --baseline 100 --dir /tmp/hf/vol
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
ROOT = Path(__file__).resolve().parent.parent


def setup_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["JUSOU_DATA_DIR"] = str(args.dir)
    env["JUSOU_AUTH_DIR"] = str(args.dir.parent / (args.dir.name + "-auth"))
    env["JUSOU_NATS_PORT"] = str(args.nats_port)
    for n, s in enumerate(SERVICES):
        env[f"JUSOU_{s.upper()}_PORT"] = str(args.port_base + 1 + n)
    env.pop("NATS_URL", None)
    env["PYTHONPATH"] = f"{ROOT / 'tests'}:{ROOT}"
    os.environ.update({k: env[k] for k in ("JUSOU_AUTH_DIR", "JUSOU_DATA_DIR")})
    return env


def urls_of(args: argparse.Namespace) -> dict[str, str]:
    return {s: f"http://127.0.0.1:{args.port_base + 1 + n}" for n, s in enumerate(SERVICES)}


class Suite:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        began = time.monotonic()
        self.out = open(self.log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen([str(ROOT / ".venv/bin/jusou"), "up"], env=self.env, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        while time.monotonic() - began < 300:
            text = self.log.read_text(errors="replace")
            if "Ctrl-C to stop" in text.split("=====")[-1]:
                return time.monotonic() - began
            if self.proc.poll() is not None:
                raise SystemExit(f"jusou up ended: {text[-3000:]}")
            time.sleep(0.2)
        raise SystemExit("jusou up not ready in 300 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.out.write("\n=====\n")
        self.out.close()

    def rss_mb(self) -> dict[str, float]:
        """RSS of each service's process (by its command line) and nats-server, children of this `jusou up`."""
        found: dict[str, float] = {}
        for pid in descendants(self.proc.pid if self.proc else 0):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if line.startswith("VmRSS"))
            except (OSError, StopIteration):
                continue
            name = next((s for s in SERVICES if f"services.{s}" in cmd or f" {s}" in cmd), None)
            name = "nats-server" if "nats-server" in cmd else name
            if name:
                found[name] = found.get(name, 0) + rss / 1024
        return found


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


# -- the load ------------------------------------------------------------------------------------------------------

class Loader:
    def __init__(self, urls: dict[str, str], workers: int) -> None:
        import httpx
        from support import journey as j
        from support.auth import staff_headers
        from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME

        self.j, self.ELDERLY, self.LEAD, self.LEAD_NAME, self.HARDSHIP = j, ELDERLY, LEAD, LEAD_NAME, HARDSHIP
        self.urls, self.httpx = urls, httpx
        self.workers = workers
        self.community = staff_headers("chiiki-001", LEAD, "community_worker")
        self.cases: list[str] = []
        self.plans: list[str] = []
        self.meeting: str | None = None
        self.errors: list[str] = []
        self.counts = {"cases": 0, "escalated": 0, "plans": 0, "decided": 0, "meetings": 0, "engagements": 0,
                       "contacts": 0, "places": 0, "sessions": 0}

    async def one(self, n: int) -> None:
        jy, j = self.journey, self.j
        escalate = n % 5 != 4  # 80% escalated
        if escalate:
            case_id = await jy.receive_and_escalate()
            self.counts["escalated"] += 1
        else:
            case = await jy.post("intake", "/consultations", {
                "counter": self.ELDERLY.code, "channel": "電話", "concerns": [j.concern("debt")] if hasattr(j, "concern")
                else [], "person": {"name": "国領 花子", "kana": "こくりょう はなこ", "birth_date": "1970-05-05"},
                "confirm_new_person": True}, j.COUNTER_STAFF)
            case_id = case["case_id"]
        self.cases.append(case_id)
        self.counts["cases"] += 1
        if escalate and n % 10 == 0:  # a plan for one case in eight escalated
            plan_id = await jy.draft_and_propose(case_id)
            self.plans.append(plan_id)
            self.counts["plans"] += 1
            if n % 20 == 0:
                if self.meeting is None or self.counts["decided"] % 10 == 0:
                    self.meeting = await jy.convene()
                    self.counts["meetings"] += 1
                await jy.decide(self.meeting, plan_id, 1, "approved", connect_to=["participation"])
                self.counts["decided"] += 1
        if n % 10 == 3:
            started = await jy.post("outreach", "/engagements", {"referred_by": "民生委員", "reason": "訪問を希望"},
                                    j.OUTREACH_WORKER)
            self.counts["engagements"] += 1
            for stage in ("接触", "関係形成"):
                await jy.post("outreach", f"/engagements/{started['case_id']}/contacts",
                              {"method": "訪問", "reached": True, "note": stage, "stage": stage}, j.OUTREACH_WORKER)
                self.counts["contacts"] += 1
        if n % 25 == 7:
            place = await jy.post("community", "/places", {"program": "chiiki-zukuri", "name": f"居場所{n}",
                                                           "area": "国領町", "ibasho": True, "opened_on": "2026-04-01"},
                                  self.community)
            self.counts["places"] += 1
            for day in (10, 11, 12, 13):
                await jy.post("community", "/sessions", {"place_id": place["place_id"], "held_on": f"2026-10-{day}",
                                                         "participants": 8, "organisations": ["A会"]}, self.community)
                self.counts["sessions"] += 1

    async def load(self, start: int, end: int) -> float:
        began = time.monotonic()
        self.http = self.httpx.AsyncClient(timeout=120, limits=self.httpx.Limits(max_connections=self.workers * 2))
        self.journey = self.j.Journey(self.urls, self.http)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(start, end):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                try:
                    await self.one(n)
                except Exception as error:  # noqa: BLE001 - counted, the load goes on
                    self.errors.append(f"{n}: {str(error)[:200]}")
                if n % 250 == 0:
                    print(f"  loaded {n} ({time.monotonic() - began:.0f} s, errors {len(self.errors)})", flush=True)

        await asyncio.gather(*(worker() for _ in range(self.workers)))
        await self.http.aclose()
        return time.monotonic() - began


# -- what is read --------------------------------------------------------------------------------------------------

UI_PARAMS = {"intake": {"counter": None}}


def ui_routes() -> dict[str, list[str]]:
    """The /ui/ GET routes without an id, from the sources (each service's ui.py and the shared pages)."""
    shared = set()
    for f in ("shared/web/casework_api.py", "shared/web/figures_api.py", "shared/web/retention_api.py"):
        shared |= set(re.findall(r'get\(\s*"(/ui/[^"{]*)"', (ROOT / f).read_text()))
    found = {}
    for s in SERVICES:
        own = set(re.findall(r'get\(\s*"(/ui/[^"{]*)"', (ROOT / f"services/{s}/ui.py").read_text()))
        found[s] = sorted(own | shared | {"/ui/events"})
    return found


async def api_routes(http: Any, url: str) -> list[str]:
    doc = (await http.get(url + "/openapi.json")).json()
    return [p for p, ops in doc["paths"].items() if "get" in ops]


async def timed_get(http: Any, url: str, headers: dict[str, str], cookies: dict[str, str] | None = None,
                    tries: int = 3) -> dict[str, Any]:
    times, response = [], None
    for _ in range(tries):
        began = time.perf_counter()
        response = await http.get(url, headers=headers, cookies=cookies)
        times.append(time.perf_counter() - began)
    assert response is not None
    items = None
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        items = len(body) if isinstance(body, list) else None
    return {"status": response.status_code, "ms": round(statistics.median(times) * 1000, 1),
            "bytes": len(response.content), "items": items, "next": bool(response.headers.get("x-next-cursor"))}


async def sweep(urls: dict[str, str], case_id: str, plan_id: str | None) -> dict[str, dict[str, Any]]:
    """Every GET without an id (JSON and pages), and the per-case reads of one case, timed."""
    import httpx
    from support.auth import headers_for, staff_headers, token
    from support.municipality import ELDERLY, LEAD

    roles = ("supervisor", "auditor", "coordinator", "secretariat", "outreach_worker", "participation_worker",
             "community_worker", "welfare_coordinator", "operator")
    ui_token = token("kanri-001", LEAD, *roles)
    counselor = token("kouki-012", ELDERLY.division, "counselor")
    results: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=300) as http:
        for s in SERVICES:
            for path in await api_routes(http, urls[s]):
                if "{" in path:
                    if path.count("{") != 1 or not ({"{case_id}", "{plan_id}"} & set(re.findall(r"\{\w+\}", path))):
                        continue
                    filled = path.replace("{case_id}", case_id).replace("{plan_id}", plan_id or "")
                else:
                    filled = path
                if path in ("/openapi.json", "/asyncapi.json", "/docs", "/metrics", "/healthz", "/readyz"):
                    continue
                try:
                    headers = headers_for(s, "GET", path)
                except (KeyError, StopIteration):
                    headers = staff_headers("kanri-001", LEAD, *roles)
                query = "?fy=2026" if "figures" in path or "report" in path else ""
                results[f"{s} {filled}{query}"] = found = await timed_get(http, urls[s] + filled + query, headers)
                if found["items"] is not None and "{" not in path:  # a JSON list: its first page of 50 too
                    results[f"{s} {filled}?limit=50"] = await timed_get(http, f"{urls[s]}{filled}?limit=50", headers)
            for path in ui_routes()[s]:
                if path.startswith(("/ui/login", "/ui/logout")) or path == "/ui/events":
                    continue
                query = f"?counter={ELDERLY.code}" if s == "intake" and ("table" in path or "csv" in path) else ""
                cookie = counselor if s == "intake" and path in ("/ui/", "/ui/cases-table", "/ui/cases.csv") else ui_token
                results[f"{s} {path}{query}"] = await timed_get(http, urls[s] + path + query, {},
                                                                 cookies={"jusou_session": cookie}, tries=2)
    return results


async def bad_paging(urls: dict[str, str]) -> dict[str, Any]:
    import httpx
    from support.auth import headers_for, token
    from support.municipality import ELDERLY

    out: dict[str, Any] = {}
    counselor = token("kouki-012", ELDERLY.division, "counselor")
    async with httpx.AsyncClient(timeout=300) as http:
        for value in ("0", "-1", "abc", "501", "100000", "1e9", "99999999999999999999999"):
            r = await http.get(urls["intake"] + "/cases", params={"limit": value},
                               headers=headers_for("intake", "GET", "/cases"))
            out[f"GET intake /cases?limit={value}"] = r.status_code
        for value in ("-1", "0", "abc", "999999", "99999999999999999999999"):
            for name in ("page", "per_page"):
                r = await http.get(urls["intake"] + "/ui/", params={name: value},
                                   cookies={"jusou_session": counselor})
                shown = re.search(r"(\d+)件中", r.text)
                out[f"GET intake /ui/?{name}={value}"] = (r.status_code, shown.group(0) if shown else "")
        for cursor in ("12", "zzzz", "A" * 400):
            r = await http.get(urls["intake"] + "/cases", params={"limit": 5, "cursor": cursor},
                               headers=headers_for("intake", "GET", "/cases"))
            out[f"GET intake /cases?limit=5&cursor={cursor[:12]}"] = r.status_code
    return out


async def walk_to_the_end(urls: dict[str, str]) -> dict[str, Any]:
    """Page through intake's /cases 500 at a time: requests, seconds, rows, whether every case was reached."""
    import httpx
    from support.auth import headers_for

    headers = headers_for("intake", "GET", "/cases")
    seen, cursor, requests = [], None, 0
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=300) as http:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            r = await http.get(urls["intake"] + "/cases", params=params, headers=headers)
            requests += 1
            seen += [c["case_id"] for c in r.json()]
            cursor = r.headers.get("x-next-cursor")
            if not cursor:
                break
    return {"requests": requests, "rows": len(seen), "distinct": len(set(seen)),
            "seconds": round(time.perf_counter() - began, 2)}


def cli(env: dict[str, str], *argv: str, timeout: float = 900) -> dict[str, Any]:
    began = time.monotonic()
    done = subprocess.run([str(ROOT / ".venv/bin/jusou"), *argv], check=False, env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    return {"argv": " ".join(argv), "rc": done.returncode, "seconds": round(time.monotonic() - began, 2),
            "stdout_bytes": len(done.stdout), "tail": (done.stdout + done.stderr)[-300:]}


def integrator_replay(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """examples/indicators.py from the stream's first event to the last, once (a new program integrating)."""
    import shlex

    said = subprocess.run([str(ROOT / ".venv/bin/jusou"), "nats", "credentials", "integrator"], env=env,
                          capture_output=True, text=True, check=False, cwd=ROOT).stdout
    found = dict(re.findall(r"export (NATS_USER|NATS_PASSWORD)=(.*)", said))
    shim = args.dir.parent / "contract" / "jusou_contract"  # the contract package's names, from this checkout
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text("from shared.contract.events import PRODUCERS, STREAM, PoisonMessage, parse, upcast"
                                      "  # noqa: F401\n")
    run_env = {**env, **{k: shlex.split(v)[0] for k, v in found.items()},
               "PYTHONPATH": f"{shim.parent}:{ROOT}"}
    state = args.dir.parent / "indicators-state.json"
    state.unlink(missing_ok=True)
    began = time.monotonic()
    done = subprocess.run([str(ROOT / ".venv/bin/python"), "examples/indicators.py", f"nats://127.0.0.1:{args.nats_port}",
                           "--once", "--state", str(state), "--durable", f"hf-volume-{int(time.time())}"],
                          env=run_env, capture_output=True, text=True, check=False, cwd=ROOT, timeout=1800)
    lines = done.stdout.splitlines()
    return {"rc": done.returncode, "seconds": round(time.monotonic() - began, 1), "printed_lines": len(lines),
            "printed_bytes": len(done.stdout), "state_bytes": state.stat().st_size if state.exists() else None,
            "last": lines[-1][:300] if lines else done.stderr[-300:]}


def compare(base: dict[str, dict[str, Any]], big: dict[str, dict[str, Any]], base_n: int, big_n: int) -> None:
    print(f"\n{'route':70} {'ms@' + str(base_n):>9} {'ms@' + str(big_n):>10} {'ratio':>7} {'KB@big':>8} items next st")
    for key in sorted(big, key=lambda k: -big[k]["ms"]):
        b, v = base.get(key), big[key]
        ratio = v["ms"] / b["ms"] if b and b["ms"] else float("nan")
        print(f"{key[:70]:70} {b['ms'] if b else '-':>9} {v['ms']:>10} {ratio:>7.1f} {v['bytes'] / 1024:>8.0f} "
              f"{v['items'] if v['items'] is not None else '':>5} {'y' if v['next'] else '':>4} {v['status']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hf/vol"))
    parser.add_argument("--port-base", type=int, default=8600)
    parser.add_argument("--nats-port", type=int, default=4623)
    parser.add_argument("--keep", action="store_true", help="reuse the data folder (skip loading what is there)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args()
    if args.dir.exists() and not args.keep:
        shutil.rmtree(args.dir)
        shutil.rmtree(args.dir.parent / (args.dir.name + "-auth"), ignore_errors=True)
    args.dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.dir.parent / "vol-backup", ignore_errors=True)
    env = setup_env(args)
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
    urls = urls_of(args)
    suite = Suite(env, args.dir.parent / (args.dir.name + ".up.log"))
    figures: dict[str, Any] = {}
    figures["start_empty_s"] = round(suite.start(), 1)
    print(f"start-up, empty: {figures['start_empty_s']} s", flush=True)
    try:
        loader = Loader(urls, args.workers)
        figures["load_baseline_s"] = round(asyncio.run(loader.load(0, args.baseline)), 1)
        case_id, plan_id = loader.cases[1], loader.plans[0] if loader.plans else None
        figures["rss_baseline_mb"] = suite.rss_mb()
        base = asyncio.run(sweep(urls, case_id, plan_id))
        figures["load_big_s"] = round(asyncio.run(loader.load(args.baseline, args.cases)), 1)
        figures["counts"] = loader.counts
        figures["load_errors"] = loader.errors[:20]
        figures["rss_big_mb"] = suite.rss_mb()
        big = asyncio.run(sweep(urls, case_id, plan_id))
        compare(base, big, args.baseline, args.cases)
        figures["sweep_base"], figures["sweep_big"] = base, big
        figures["walk"] = asyncio.run(walk_to_the_end(urls))
        figures["bad_paging"] = asyncio.run(bad_paging(urls))
        figures["rss_after_reads_mb"] = suite.rss_mb()
        figures["cli_running"] = [cli(env, "status"), cli(env, "report", "--fy", "2026"),
                                  cli(env, "audit", "journey", case_id),
                                  cli(env, "backup", str(args.dir.parent / "vol-backup"))]
        figures["integrator_replay"] = integrator_replay(env, args)
        print(json.dumps(figures["integrator_replay"], ensure_ascii=False), flush=True)
    finally:
        suite.stop()
    figures["cli_stopped"] = [cli(env, "replay", s) for s in SERVICES]
    figures["start_year_s"] = round(suite.start(), 1)
    figures["rss_year_idle_mb"] = suite.rss_mb()
    suite.stop()
    restored = args.dir.parent / "vol-restored"
    shutil.rmtree(restored, ignore_errors=True)
    shutil.rmtree(args.dir.parent / "vol-restored-auth", ignore_errors=True)
    figures["restore"] = cli({**env, "JUSOU_DATA_DIR": str(restored),
                              "JUSOU_AUTH_DIR": str(args.dir.parent / "vol-restored-auth")},
                             "restore", str(args.dir.parent / "vol-backup"))
    print(json.dumps({k: v for k, v in figures.items() if not k.startswith("sweep")}, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
