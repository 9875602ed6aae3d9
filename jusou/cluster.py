"""Scale-out on one machine: a three-node NATS JetStream cluster and every service twice, on PostgreSQL.

`jusou cluster up` (issue 7) starts three nats-servers on loopback (configs rendered from
`node_config`, the same text as deploy/cluster/nats-1.conf … nats-3.conf, plus the suite's NATS
users), waits until their routes are up and JetStream has a meta leader, creates `JUSOU`,
`JUSOU_DLQ` and `JUSOU_REPLAY` with three replicas each, then starts every service `replicas`
times (default 2) on PostgreSQL (`JUSOU_STORE=postgres`, the `JUSOU_PG_*` settings), each replica
on its own HTTP port, all with `NATS_URL` listing the three servers.

Replicas of a service share one PostgreSQL schema and the service's durable consumers: JetStream
hands each message to one of them (`max_ack_pending=1` keeps the source's order), a redelivery
that reaches the other replica is recognised by its tracking record, and both relays publish the
same store with the same `Nats-Msg-Id`, so the stream keeps one copy (shared/messaging/relay.py).

Like jusou/runner.py it prints nothing: it logs, and raises `PortTaken` or `SuiteFailed`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from jusou.runner import (
    HOST,
    POLL_SECONDS,
    READY_DEADLINE_SECONDS,
    ROOT,
    PortTaken,
    Stopped,
    SuiteFailed,
    _finish,
    _signal_group,
    absolute_paths,
    accepts_connections,
    hold_data_folder_or_say,
    is_ready,
    listen_host,
    nats_server_binary,
    port_in_use,
    port_taken_ja,
    reach_host,
    run_async,
    store_description,
    subscriptions,
)
from shared import settings
from shared.messaging import natsauth
from shared.web import auth

log = structlog.get_logger("jusou.cluster")

NODES = 3
REPLICAS = 2
CLUSTER_NAME = "jusou"
STREAM_REPLICAS = 3
DEPLOY_DIR = ROOT / "deploy" / "cluster"
FORM_DEADLINE_SECONDS = 30.0
#: replica r (1, 2, …) of a service listens on its contract port + 100 × (r − 1): 8101, 8201, …
REPLICA_PORT_STEP = 100
START_RETRIES = 2  # a replica that exits while starting is started again (as a restart policy would)


@dataclass(frozen=True)
class NodePorts:
    client: int  # NATS clients (the services)
    route: int  # the other nodes of the cluster
    monitor: int  # HTTP monitoring: /healthz, /routez, /jsz

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.client}"


DEFAULT_BASE_PORT = 4230


def node_ports(base: int = DEFAULT_BASE_PORT) -> tuple[NodePorts, ...]:
    """Node n (1-based): clients on base + n, routes on base + 2000 + n, monitoring on base + 4000 + n."""
    return tuple(NodePorts(base + n, base + 2000 + n, base + 4000 + n) for n in range(1, NODES + 1))


DEFAULT_NODES = node_ports()  # 4231-4233, 6231-6233, 8231-8233


def server_name(node: int) -> str:
    return f"{CLUSTER_NAME}-n{node}"


def node_config(node: int, nodes: tuple[NodePorts, ...], store_dir: str, auth_include: str | None = None) -> str:
    """nats-server configuration of `node` (1-based) of the cluster `nodes`.

    deploy/cluster/nats-<n>.conf is this text for the default ports and store folders
    (`jusou cluster config` writes them); `jusou cluster up` adds the suite's NATS users with
    `auth_include` (an `include` of shared/messaging/natsauth's generated authorization).
    """
    me = nodes[node - 1]
    routes = "\n".join(f"    nats-route://{HOST}:{other.route}" for i, other in enumerate(nodes, 1) if i != node)
    text = f"""\
# Jusou: node {node} of the {len(nodes)}-node NATS JetStream cluster `{CLUSTER_NAME}` on loopback (issue 7).
# Rendered by jusou/cluster.py (`jusou cluster config`); `jusou cluster up` starts all three.
server_name: {server_name(node)}
listen: {HOST}:{me.client}
http: {HOST}:{me.monitor}

jetstream {{
  store_dir: "{store_dir}"
}}

cluster {{
  name: {CLUSTER_NAME}
  listen: {HOST}:{me.route}
  routes: [
{routes}
  ]
}}
"""
    if auth_include:
        text += f'\n# the suite\'s NATS users: each service may publish only its own subjects\ninclude "{auth_include}"\n'
    return text


def default_configs() -> dict[str, str]:
    """deploy/cluster/nats-<n>.conf: file name → text (store folders under ./data/cluster/)."""
    return {f"nats-{n}.conf": node_config(n, DEFAULT_NODES, f"data/cluster/nats-{n}") for n in range(1, NODES + 1)}


def _monitor(port: int, path: str) -> Any:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(f"http://{HOST}:{port}{path}", timeout=2) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # /healthz answers 503 with a JSON body
        try:
            return json.load(exc)
        except ValueError:
            return None
    except (urllib.error.URLError, OSError, ValueError):
        return None


class NatsCluster:
    """Three nats-servers on loopback forming one JetStream cluster, their data under `data_dir/cluster`."""

    def __init__(self, data_dir: Path, nodes: tuple[NodePorts, ...] = DEFAULT_NODES,
                 services: tuple[str, ...] = tuple(settings.PORTS), auth: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.nodes = nodes
        self.services = services
        self.auth = auth
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def dir(self) -> Path:
        return self.data_dir / "cluster"

    @property
    def url(self) -> str:
        """`NATS_URL` for the services: every node, comma-separated (shared.messaging.bus.servers splits it)."""
        return ",".join(node.url for node in self.nodes)

    def log_path(self, node: int) -> Path:
        return self.data_dir / "logs" / f"nats-{node}.log"

    def operator(self) -> tuple[str, str] | tuple[None, None]:
        if not self.auth:
            return (None, None)
        return (natsauth.OPERATOR, natsauth.credentials(self.data_dir, self.services)[natsauth.OPERATOR])

    def ports(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for n, node in enumerate(self.nodes, 1):
            found |= {f"nats-{n}": node.client, f"nats-{n} route": node.route, f"nats-{n} monitor": node.monitor}
        return found

    def write_configs(self) -> list[Path]:
        self.dir.mkdir(parents=True, exist_ok=True)
        include = None
        if self.auth:
            natsauth.server_config(self.data_dir, subscriptions(self.services))  # data_dir/nats-auth.conf, mode 600
            include = f"../{natsauth.SERVER_CONFIG_FILE}"  # nats-server resolves it beside the config
        paths = []
        for n in range(1, len(self.nodes) + 1):
            path = self.dir / f"nats-{n}.conf"
            path.write_text(node_config(n, self.nodes, str(self.dir / f"nats-{n}"), include), encoding="utf-8")
            paths.append(path)
        return paths

    def start(self) -> None:
        """Start every node, wait for the cluster and its meta leader, create the streams (3 replicas)."""
        self.write_configs()
        for n in range(1, len(self.nodes) + 1):
            self.start_node(n, wait=False)
        self.wait_formed()
        run_async(self._create_streams())
        log.info("cluster.ready", url=self.url, nodes=len(self.nodes))

    async def _create_streams(self) -> None:
        from shared.messaging.bus import connect, ensure_streams, raise_consumer_limit

        nc = await connect(self.url, "jusou-cluster", *self.operator())
        try:
            deadline = time.monotonic() + FORM_DEADLINE_SECONDS
            while True:
                try:
                    await ensure_streams(nc, STREAM_REPLICAS)
                    await raise_consumer_limit(nc)  # a JUSOU made before it had one (nats-server 2.15: 1,000)
                    if settings.current().partitions > 1:  # each service's lease bucket too (partitions.make_lease_buckets)
                        from shared.messaging.partitions import lease_setting, make_lease_buckets

                        await make_lease_buckets(nc.jetstream(), list(settings.PORTS), lease_setting(), STREAM_REPLICAS)
                    return
                except Exception as exc:  # a leader election in progress: "JetStream system temporarily unavailable"
                    if time.monotonic() > deadline:
                        raise SuiteFailed("nats", f"the streams could not be created: {exc}", self.log_path(1)) from exc
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def start_node(self, node: int, wait: bool = True) -> None:
        """Start one node (again, after `kill_node`) on its ports and store folder."""
        running = self.processes.get(node)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"nats-{node} is already running (pid {running.pid})")
        config = self.dir / f"nats-{node}.conf"
        self.log_path(node).parent.mkdir(parents=True, exist_ok=True)
        with self.log_path(node).open("ab") as log_file:
            self.processes[node] = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)], cwd=self.dir, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if wait:
            self._wait_open(node)
            self.wait_formed()

    def kill_node(self, node: int, signum: signal.Signals = signal.SIGKILL) -> None:
        """Stop one node as a crash would (SIGKILL by default) and wait for it."""
        process = self.processes.pop(node)
        _signal_group(process, signum)
        process.wait()
        log.info("nats.killed", node=node, pid=process.pid, signal=signum.name)

    def running(self) -> list[int]:
        return [n for n, p in self.processes.items() if p.poll() is None]

    def _wait_open(self, node: int) -> None:
        deadline = time.monotonic() + FORM_DEADLINE_SECONDS
        while not accepts_connections(self.nodes[node - 1].client):
            process = self.processes[node]
            if process.poll() is not None:
                raise SuiteFailed(f"nats-{node}", f"nats-server exited with code {process.returncode}", self.log_path(node))
            if time.monotonic() > deadline:
                raise SuiteFailed(f"nats-{node}", "its client port did not open", self.log_path(node))
            time.sleep(POLL_SECONDS)

    def formed(self) -> bool:
        """Every running node routes to every other running node, and each knows the JetStream meta leader."""
        running = self.running()
        for n in running:
            routez = _monitor(self.nodes[n - 1].monitor, "/routez")
            jsz = _monitor(self.nodes[n - 1].monitor, "/jsz")
            if not routez or not jsz:
                return False
            peers = {route.get("remote_name") for route in routez.get("routes", [])}
            if not {server_name(m) for m in running if m != n} <= peers:
                return False
            if not (jsz.get("meta_cluster") or {}).get("leader"):
                return False
        return bool(running)

    def wait_formed(self) -> None:
        deadline = time.monotonic() + FORM_DEADLINE_SECONDS
        for n in self.running():
            self._wait_open(n)
        while not self.formed():
            for n, process in self.processes.items():
                if process.poll() is not None:
                    raise SuiteFailed(f"nats-{n}", f"nats-server exited with code {process.returncode}", self.log_path(n))
            if time.monotonic() > deadline:
                raise SuiteFailed("nats-1", f"the cluster did not form within {FORM_DEADLINE_SECONDS:.0f} s "
                                  "(routes or JetStream meta leader missing)", self.log_path(1))
            time.sleep(POLL_SECONDS)

    def stream_state(self, node: int, stream: str) -> dict[str, Any] | None:
        """The stream's state as `node` holds it (its monitoring /jsz), None if it holds no copy."""
        jsz = _monitor(self.nodes[node - 1].monitor, "/jsz?streams=true")
        for account in (jsz or {}).get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == stream:
                    return dict(detail.get("state") or {})
        return None

    def stop(self) -> None:
        processes, self.processes = self.processes, {}
        for process in processes.values():
            _signal_group(process, signal.SIGTERM)
        for n, process in processes.items():
            _finish(f"nats-{n}", process)


class ScaleOut:
    """The cluster and `replicas` processes of every service, on PostgreSQL."""

    def __init__(
        self,
        data_dir: Path,
        *,
        nodes: tuple[NodePorts, ...] = DEFAULT_NODES,
        replicas: int = REPLICAS,
        ports: dict[str, list[int]] | None = None,
        services: tuple[str, ...] = tuple(settings.PORTS),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.services = services
        self.replicas = replicas
        self.ports = ports or {s: [settings.PORTS[s] + REPLICA_PORT_STEP * r for r in range(replicas)] for s in services}
        if any(len(self.ports[s]) != replicas for s in services):
            raise ValueError(f"each service needs {replicas} ports")
        self.extra_env = dict(extra_env or {})
        self.host = listen_host(self.extra_env)
        self.cluster = NatsCluster(self.data_dir, nodes, services)
        self.processes: dict[tuple[str, int], subprocess.Popen[bytes]] = {}
        self.ready_seconds: float | None = None

    def name(self, service: str, replica: int) -> str:
        return f"{service}-{replica}"

    def url(self, service: str, replica: int) -> str:
        return f"http://{reach_host(getattr(self, 'host', HOST))}:{self.ports[service][replica - 1]}"

    def urls(self, service: str) -> list[str]:
        return [self.url(service, r) for r in range(1, self.replicas + 1)]

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def check_ports(self) -> None:
        wanted = self.cluster.ports()
        wanted |= {self.name(s, r): self.ports[s][r - 1] for s in self.services for r in range(1, self.replicas + 1)}
        services = {self.name(s, r) for s in self.services for r in range(1, self.replicas + 1)}
        taken = {what: port for what, port in wanted.items()
                 if port_in_use(port, getattr(self, "host", HOST) if what in services else HOST)}
        if taken:
            raise PortTaken(taken)

    def service_env(self) -> dict[str, str]:
        env = absolute_paths({**os.environ, **self.extra_env})
        if env.get("JUSOU_STORE", "postgres").lower() != "postgres":
            raise SuiteFailed("cluster", "replicas of a service share one store: JUSOU_STORE must be postgres", None)
        env.update(
            JUSOU_STORE="postgres",
            JUSOU_DATA_DIR=str(self.data_dir),  # the one cipher key, made below, and the NATS passwords
            NATS_URL=self.cluster.url,
            JUSOU_STREAM_REPLICAS=str(STREAM_REPLICAS),
            JUSOU_HOST=getattr(self, "host", HOST),
            PYTHONUNBUFFERED="1",
            # Replicas share each durable consumer: one message in flight, whatever the shell says
            # (runs of more need one process per consumer: shared/messaging/inbox.py, "Runs").
            JUSOU_INBOX_BATCH="1",
        )
        # Every process keeps its pools open: 12 × (5 + 2 read-model + overflow) would pass PostgreSQL's
        # default max_connections (100); 12 × (2 + 2 + overflow) stays under it. JUSOU_PG_POOL_SIZE overrides.
        env.setdefault("JUSOU_PG_POOL_SIZE", "2")
        # Links and server-to-server calls between services go to replica 1.
        env.update({f"JUSOU_{s.upper()}_PORT": str(self.ports[s][0]) for s in self.services})
        return env

    def start(self) -> None:
        began = time.monotonic()
        self.check_ports()
        try:
            self.cluster.start()
            env = self.service_env()
            if not env.get("JUSOU_CIPHER_KEY"):
                settings.cipher_key_in(self.data_dir)  # one key for every replica
            if not env.get("JUSOU_OIDC_ISSUER"):  # one development issuer for every replica
                auth.DevIssuer(Path(env.get("JUSOU_AUTH_DIR") or self.data_dir / "auth")).private_key()
            for r in range(1, self.replicas + 1):
                # Replica 1 of every service first: they create the durable consumers (a Raft
                # proposal each on the cluster); the later replicas then only bind to them.
                for service in self.services:
                    self._spawn(service, r)
                self._wait_ready([(service, r) for service in self.services])
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - began
        log.info("scaleout.ready", seconds=round(self.ready_seconds, 2), replicas=self.replicas)

    def _spawn(self, service: str, replica: int) -> None:
        running = self.processes.get((service, replica))
        if running is not None and running.poll() is None:
            raise RuntimeError(f"{self.name(service, replica)} is already running (pid {running.pid})")
        env = self.service_env()
        env[f"JUSOU_{service.upper()}_PORT"] = str(self.ports[service][replica - 1])
        env |= {"NATS_USER": service, "NATS_PASSWORD": natsauth.credentials(self.data_dir, self.services)[service]}
        path = self.log_path(self.name(service, replica))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as log_file:
            self.processes[(service, replica)] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def _wait_ready(self, keys: list[tuple[str, int]]) -> None:
        waiting = list(keys)
        restarts = dict.fromkeys(keys, 0)
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        while waiting:
            for key in list(waiting):
                if is_ready(self.url(*key)):
                    waiting.remove(key)
                elif self.processes[key].poll() is not None:
                    name = self.name(*key)
                    code = self.processes[key].returncode
                    if restarts[key] >= START_RETRIES:
                        raise SuiteFailed(name, f"it exited with code {code} ({START_RETRIES + 1} tries)",
                                          self.log_path(name))
                    # A busy machine can time a JetStream API call out while the cluster is young;
                    # start it again, as a container's restart policy would.
                    restarts[key] += 1
                    log.warning("replica.restarted", replica=name, code=code, tries=restarts[key] + 1)
                    self._spawn(*key)
            if waiting and time.monotonic() > deadline:
                name = self.name(*waiting[0])
                raise SuiteFailed(name, f"/readyz did not answer 200 within {READY_DEADLINE_SECONDS:.0f} s",
                                  self.log_path(name))
            time.sleep(POLL_SECONDS)

    def kill(self, service: str, replica: int) -> None:
        """SIGKILL one replica, as a crash would."""
        process = self.processes.pop((service, replica))
        _signal_group(process, signal.SIGKILL)
        process.wait()
        log.info("replica.killed", service=service, replica=replica, pid=process.pid)

    def start_replica(self, service: str, replica: int) -> None:
        self._spawn(service, replica)
        self._wait_ready([(service, replica)])

    def exited(self) -> dict[str, int]:
        ended = {self.name(*key): p.returncode for key, p in self.processes.items() if p.poll() is not None}
        ended |= {f"nats-{n}": p.returncode for n, p in self.cluster.processes.items() if p.poll() is not None}
        return ended

    def stop(self) -> None:
        processes, self.processes = self.processes, {}
        for process in processes.values():
            _signal_group(process, signal.SIGTERM)
        for key, process in processes.items():
            _finish(self.name(*key), process)
        self.cluster.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


# --- `jusou cluster up | config` -----------------------------------------------------------------


def register(commands: Any) -> None:
    """Add `jusou cluster …` to the `jusou` command (jusou/cli.py parser())."""
    cluster = commands.add_parser("cluster", help="a 3-node NATS cluster and every service twice, on PostgreSQL")
    actions = cluster.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start the NATS cluster and the replicas; Ctrl-C stops them")
    up.add_argument("--data-dir", help="folder for NATS data, logs, the cipher key (default: JUSOU_DATA_DIR or ./data)")
    up.add_argument("--replicas", type=int, default=REPLICAS, help=f"processes per service (default {REPLICAS})")
    up.add_argument("--nats-base-port", type=int, default=DEFAULT_BASE_PORT,
                    help="node n listens for clients on this + n, routes on + 2000 + n, monitoring on + 4000 + n "
                         f"(default {DEFAULT_BASE_PORT})")
    up.set_defaults(handler=cluster_up)
    config = actions.add_parser("config", help="write deploy/cluster/nats-<n>.conf; --check: exit 1 if they differ")
    config.add_argument("dir", nargs="?", default=str(DEPLOY_DIR))
    config.add_argument("--check", action="store_true")
    config.set_defaults(handler=cluster_config)


def cluster_config(args: Any) -> int:
    folder = Path(args.dir)
    differs = []
    for name, text in default_configs().items():
        path = folder / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                differs.append(str(path))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for differing in differs:
        print(f"{differing} は生成結果と異なります / differs from `jusou cluster config`", file=sys.stderr)
    return 1 if differs else 0


def print_ready(scale: ScaleOut) -> None:
    from rich.console import Console
    from rich.table import Table


    console = Console(highlight=False)
    nodes = Table(title="NATS JetStream cluster / クラスタ", title_justify="left")
    for column in ("ノード node", "クライアント client", "ルート route", "監視 monitor (/jsz)"):
        nodes.add_column(column, no_wrap=True)
    for n, node in enumerate(scale.cluster.nodes, 1):
        nodes.add_row(server_name(n), str(node.client), str(node.route), str(node.monitor))
    console.print(nodes)
    table = Table(title=f"Jusou — {scale.replicas} replicas per service / 各サービス {scale.replicas} 台", title_justify="left")
    table.add_column("service / サービス")
    for r in range(1, scale.replicas + 1):
        table.add_column(f"replica {r} / {r} 台目")
    for service in scale.services:
        table.add_row(service, *(f"{url}/ui/" for url in scale.urls(service)))
    console.print(table)
    console.print(f"NATS_URL: {scale.cluster.url} (streams: {STREAM_REPLICAS} replicas)", markup=False)
    console.print(f"store:    {store_description(scale.data_dir)}", markup=False)
    console.print(f"data:     {scale.data_dir} (NATS: {scale.cluster.dir}, logs: {scale.data_dir / 'logs'})", markup=False)
    console.print(f"start-up: {scale.ready_seconds or 0:.1f} s", markup=False)
    console.print("Ctrl-C to stop / Ctrl-C で停止します", markup=False)


def cluster_up(args: Any) -> int:

    def stop_on_signal(signum: int, frame: Any) -> None:
        raise Stopped(signal.Signals(signum).name)

    env = settings.current()
    if "store" in env.model_fields_set and env.store != "postgres":  # unset: postgres here
        print("レプリカは一つのストアを共有します: JUSOU_STORE=postgres にしてください。\n"
              "Replicas share one store: set JUSOU_STORE=postgres (JUSOU_PG_* say where).", file=sys.stderr)
        return 1
    if args.replicas < 1:
        print("--replicas は 1 以上 / --replicas must be at least 1", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C's, also when started with SIGINT ignored (`&`)
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    data_dir = Path(args.data_dir or env.data_dir)
    held = hold_data_folder_or_say(data_dir, "jusou cluster up")  # before anything is written, as `jusou up`
    if held is None:
        return 1
    first = {s: env.port_of(s) for s in settings.PORTS}
    scale = ScaleOut(data_dir, replicas=args.replicas,
                     nodes=node_ports(args.nats_base_port), extra_env={"JUSOU_STORE": "postgres"},
                     ports={s: [port + REPLICA_PORT_STEP * r for r in range(args.replicas)] for s, port in first.items()})
    warned: set[str] = set()
    try:
        scale.start()
        print_ready(scale)
        while True:
            time.sleep(1.0)
            for name, code in scale.exited().items():
                if name not in warned:
                    warned.add(name)
                    print(f"{name} が終了しました（終了コード {code}） / {name} exited with code {code}; "
                          f"see {scale.data_dir / 'logs' / (name + '.log')}", file=sys.stderr)
    except PortTaken as error:
        print(f"{port_taken_ja(error)}\n\n{error}", file=sys.stderr)
        return 1
    except SuiteFailed as error:
        print(f"{error.name} を起動できませんでした。\n\n{error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stopped):
        print("\n停止しています… / stopping…", file=sys.stderr)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        scale.stop()
        held.close()
