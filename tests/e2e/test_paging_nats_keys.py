"""The integrator example (examples/indicators.py) signs in with an NKey or a NATS `.creds` file (issue 17).

Each against a real nats-server configured for it:
- an NKey user (`authorization { users = [ {nkey: U…, permissions: …} ] }`) holding exactly the permissions of
  Jusou's read-only `integrator` (shared/messaging/natsauth.py), so the example works within them (its own
  durable consumer, acks, replies on `_INBOX_integrator`); a seed NATS does not know is refused at once;
- decentralised JWT authentication: an operator, an account with JetStream and a user, their JWTs made here
  and signed with their NKeys (nkeys, nats-py's own extra), the account preloaded into a memory resolver, the
  user's JWT and seed in a `.creds` file as `nsc` writes it.
The stream holds two messages of an event type this contract does not know: the example reads, counts them as
skipped and acks them, so its line says it caught up at the stream's end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
from nats.js.api import StreamConfig
from support.servers import free_port, nats_binary, wait_for_port

from jusou.runner import subscriptions
from shared.contract.events import STREAM, SUBJECT_PREFIX
from shared.messaging.natsauth import INTEGRATOR, integrator_permissions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "indicators.py"
SETUP = ("setup", "setup-password")  # the NKey server's second user: makes the stream, publishes


def keypair(prefix: int) -> Any:
    """A new NKey pair: PREFIX_BYTE_USER (U…), _ACCOUNT (A…) or _OPERATOR (O…)."""
    return nkeys.from_seed(nkeys.encode_seed(os.urandom(32), prefix))


def public(pair: Any) -> str:
    return str(pair.public_key.decode())


def nats_jwt(claims: dict[str, Any], issuer: Any) -> str:
    """A NATS JWT (header alg ed25519-nkey), its `jti` a hash of the claims, signed by `issuer`'s NKey."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    claims = {"iat": int(time.time()), "iss": public(issuer), **claims}
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode().rstrip("=")
    signing = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode()) + "." + b64(json.dumps(claims).encode())
    return signing + "." + b64(issuer.sign(signing.encode()))


def creds_file(user_jwt: str, seed: str) -> str:
    """A `.creds` file's text, as `nsc generate creds` writes it."""
    return (f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n"
            "*************************************************************\n")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """`server(config)`: a real nats-server with JetStream and `config` (a dict, written as JSON); its URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: dict[str, Any]) -> str:
        port = free_port()
        folder = tmp_path / f"nats-{port}"
        config = {"listen": f"127.0.0.1:{port}", "jetstream": {"store_dir": str(folder)}, **config}
        path = tmp_path / f"nats-{port}.conf"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        log = (tmp_path / f"nats-{port}.log").open("wb")
        started.append(subprocess.Popen([nats_binary(), "-c", str(path)], stdout=log, stderr=subprocess.STDOUT))
        wait_for_port("127.0.0.1", port)
        return f"nats://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


async def two_unknown_events(url: str, **sign_in: Any) -> None:
    """The stream JUSOU with two messages of a type this contract does not know (the example skips them)."""
    nc = await nats.connect(url, **sign_in)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"]))
        for n in range(2):
            await js.publish(f"{SUBJECT_PREFIX}.intake.SomethingNewer", json.dumps({"n": n}).encode())
    finally:
        await nc.close()


def example(tmp_path: Path, url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """examples/indicators.py --once with these flags, the contract package from the checkout, no NATS_* set."""
    contract = tmp_path / "contract"
    if not contract.exists():  # the package as its wheel lays it out: its __init__ and shared/contract/events.py
        (contract / "jusou_contract").mkdir(parents=True)
        source = ROOT / "packages" / "jusou-contract" / "src" / "jusou_contract" / "__init__.py"
        (contract / "jusou_contract" / "__init__.py").symlink_to(source)
        (contract / "jusou_contract" / "events.py").symlink_to(ROOT / "shared" / "contract" / "events.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")} | {"PYTHONPATH": str(contract)}
    return subprocess.run([sys.executable, str(EXAMPLE), url, "--once", "--state", str(tmp_path / f"view-{len(flags)}.json"),
                           *flags], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)


def last_view(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-2000:]
    view: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return view


async def test_the_example_signs_in_with_an_nkey_as_the_integrator_and_a_seed_nats_does_not_know_is_refused(
        tmp_path: Path, server: Any) -> None:
    integrator = keypair(nkeys.PREFIX_BYTE_USER)
    url = server({"authorization": {"users": [
        {"nkey": public(integrator), "permissions": integrator_permissions(subscriptions())},
        {"user": SETUP[0], "password": SETUP[1]}]}})
    await two_unknown_events(url, user=SETUP[0], password=SETUP[1])
    seed = integrator.seed.decode()

    view = last_view(example(tmp_path, url, "--nkey", seed))  # the seed itself
    assert (view["caught_up"], view["stream_seq"], view["skipped"]) == (True, 2, 2), view
    seed_file = tmp_path / "integrator.nk"
    seed_file.write_text(seed + "\n", encoding="utf-8")
    again = example(tmp_path, url, "--nkey", str(seed_file), "--durable", "mhlw-indicators-2")  # or a file of it
    assert last_view(again)["stream_seq"] == 2

    stranger = keypair(nkeys.PREFIX_BYTE_USER).seed.decode()
    began = time.monotonic()
    refused = example(tmp_path, url, "--nkey", stranger)
    assert refused.returncode == 2 and time.monotonic() - began < 60, refused.stderr
    assert "NATS refused the NKey seed given" in refused.stderr and "authorization violation" in refused.stderr.lower()

    public_only = example(tmp_path, url, "--nkey", public(integrator))  # the server's half, given by mistake
    assert public_only.returncode == 2 and "SU…" in public_only.stderr, public_only.stderr


async def test_the_example_signs_in_with_a_creds_file_on_a_nats_with_decentralised_jwt_authentication(
        tmp_path: Path, server: Any) -> None:
    operator, account, system, user = (keypair(p) for p in (nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT,
                                                            nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_USER))
    unlimited = {"subs": -1, "data": -1, "payload": -1}
    operator_jwt = nats_jwt({"sub": public(operator), "name": "city", "nats": {"type": "operator", "version": 2}},
                            operator)
    account_jwt = nats_jwt({"sub": public(account), "name": "JUSOU", "nats": {
        "type": "account", "version": 2, "limits": {
            **unlimited, "imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1,
            "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}}}, operator)
    user_jwt = nats_jwt({"sub": public(user), "name": INTEGRATOR, "nats": {
        "type": "user", "version": 2, "pub": {}, "sub": {}, **unlimited}}, account)
    system_jwt = nats_jwt({"sub": public(system), "name": "SYS", "nats": {"type": "account", "version": 2}}, operator)
    url = server({"operator": operator_jwt, "system_account": public(system), "resolver": "MEMORY",
                  "resolver_preload": {public(account): account_jwt, public(system): system_jwt}})
    creds = tmp_path / "integrator.creds"
    creds.write_text(creds_file(user_jwt, user.seed.decode()), encoding="utf-8")
    creds.chmod(0o600)
    await two_unknown_events(url, user_credentials=str(creds))

    view = last_view(example(tmp_path, url, "--creds", str(creds)))
    assert (view["caught_up"], view["stream_seq"], view["skipped"]) == (True, 2, 2), view

    missing = example(tmp_path, url, "--creds", str(tmp_path / "nowhere.creds"))
    assert missing.returncode == 2 and "no .creds file" in missing.stderr, missing.stderr
