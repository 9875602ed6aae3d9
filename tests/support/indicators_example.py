"""examples/indicators.py loaded as a module, as an integrator runs it: with only the contract package
(`jusou_contract`, which re-exports shared/contract/events.py) importable under its own name."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from shared.contract import events

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "indicators.py"


def load_indicators_example(monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    """The example as a fresh module named `name` (one per test file, so none shares another's module state)."""
    contract = types.ModuleType("jusou_contract")
    for attribute in ("PRODUCERS", "STREAM", "PoisonMessage", "parse", "upcast"):
        setattr(contract, attribute, getattr(events, attribute))
    monkeypatch.setitem(sys.modules, "jusou_contract", contract)
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
