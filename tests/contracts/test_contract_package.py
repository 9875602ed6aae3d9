"""The contract as its own small package, `jusou-contract` (packages/jusou-contract, issue 17).

Built from this repository (one source: shared/contract and docs/asyncapi go into the wheel as they
are), installed alone in a fresh virtual environment with pydantic from the registry, it validates
and parses an event of every (event_type, schema_version), each made from its published JSON Schema
alone, and knows nothing of the rest of Jusou. Events a real run recorded go through it in
tests/e2e/test_integrating_guide.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from shared.contract.events import REGISTRY, json_schemas

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "packages" / "jusou-contract"

#: Run inside the fresh environment: every schema carries `$schema` and `$id`; an instance made from each
#: event's JSON Schema (its required fields, the first of each choice) parses and upcasts; a wrong one is refused.
IN_THE_FRESH_VENV = r'''
import json, sys, uuid
import jusou_contract
from jusou_contract import PoisonMessage, REGISTRY, asyncapi, parse, schema, schema_names, upcast

try:
    import shared  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("Jusou's own `shared` is importable: not a fresh environment")
for forbidden in ("fastapi", "eventsourcing", "nats", "jusou"):
    try:
        __import__(forbidden)
    except ImportError:
        continue
    sys.exit(f"{forbidden} came with the contract")

def instance(node, defs):
    if "$ref" in node:
        return instance(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    for choice in ("anyOf", "oneOf"):
        if choice in node:
            return instance(next(n for n in node[choice] if n.get("type") != "null"), defs)
    kind = node.get("type")
    if kind == "object":
        return {key: instance(sub, defs) for key, sub in node.get("properties", {}).items()
                if key in node.get("required", [])}
    if kind == "array":
        return [instance(node["items"], defs)] if node.get("minItems") else []
    if kind == "integer":
        return max(node.get("minimum", node.get("exclusiveMinimum", 0) + 1), 1)
    if kind == "boolean":
        return True
    if kind == "string":
        return {"uuid": str(uuid.uuid4()), "date": "2026-12-01", "date-time": "2026-12-01T09:00:00+09:00"}.get(
            node.get("format"), "x")
    raise SystemExit(f"no instance for {node}")

names = schema_names()
ids = set()
for name in names:
    found = schema(name)
    assert found["$schema"].startswith("https://json-schema.org/"), (name, found.get("$schema"))
    assert found["$id"] and found["$id"] not in ids, (name, found.get("$id"))
    ids.add(found["$id"])
envelope_schema = schema("Envelope")
parsed = 0
for event_type, version in sorted(REGISTRY):
    payload_schema = schema(f"{event_type}.v{version}")
    envelope = instance(envelope_schema, envelope_schema.get("$defs", {}))
    envelope.update(event_type=event_type, schema_version=version,
                    payload=instance(payload_schema, payload_schema.get("$defs", {})))
    body = json.dumps(envelope).encode()
    head, payload = parse(body)
    assert (head.event_type, head.schema_version) == (event_type, version)
    newest, _ = upcast(head, payload)
    assert newest.event_id == head.event_id and newest.schema_version >= version
    try:
        parse(json.dumps({**envelope, "payload": {"unexpected": 1}}).encode()) if payload_schema.get("required") else None
    except PoisonMessage:
        pass
    else:
        assert not payload_schema.get("required"), f"{event_type} v{version} took a payload without its fields"
    parsed += 1
assert asyncapi("intake")["asyncapi"].startswith("3.")
print(json.dumps({"schemas": len(names), "parsed": parsed, "file": jusou_contract.__file__}))
'''


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(PACKAGE)], check=True, capture_output=True, timeout=120)
    [built] = out.glob("jusou_contract-*.whl")
    return built


def test_the_wheel_is_built_from_the_one_source(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("jusou_contract/events.py") == (ROOT / "shared/contract/events.py").read_bytes()
        schemas = {n.rsplit("/", 1)[-1] for n in names if n.startswith("jusou_contract/schemas/")}
        assert schemas == set(json_schemas())
        for name in schemas:
            assert archive.read(f"jusou_contract/schemas/{name}") == (ROOT / "shared/contract/schemas" / name).read_bytes()
        services = {n.rsplit("/", 1)[-1] for n in names if n.startswith("jusou_contract/asyncapi/")}
        assert services == {p.name for p in (ROOT / "docs/asyncapi").glob("*.json")}
        modules = {n for n in names if n.endswith(".py")}
        assert modules == {"jusou_contract/__init__.py", "jusou_contract/events.py"}  # nothing else of Jusou
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.MULTILINE)
    assert requires == ["pydantic<3,>=2.10"], requires
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert f"Version: {ours}" in metadata  # the contract package says which Jusou it comes from


def test_the_contract_imports_nothing_of_jusou_but_pydantic() -> None:
    source = (ROOT / "shared/contract/events.py").read_text(encoding="utf-8")
    imported = set(re.findall(r"^(?:from|import) ([\w.]+)", source, re.MULTILINE))
    assert {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) == {"pydantic"}, imported


def test_alone_in_a_fresh_venv_it_validates_and_parses_every_event_version(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "integrator"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # this test's pip installs into it (ensurepip takes seconds)
    python = str(env_dir / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--disable-pip-version-check",
                    "--no-compile", str(wheel)], check=True, capture_output=True, timeout=240)  # pydantic from the registry

    done = subprocess.run([python, "-I", "-c", IN_THE_FRESH_VENV], check=False, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["parsed"] == len(REGISTRY) and result["schemas"] == len(REGISTRY) + 1
    assert result["file"].startswith(str(env_dir))
