"""Old topics of stored events keep loading after shared/ was split into layers (issue 14).

eventsourcing stores each event and snapshot with the `module:Class` topic of its class
(`shared.plan:Plan.Drafted`, `shared.idempotency:IdempotentRequest.Answered`, ...). Those modules
moved: each old module name is registered with `eventsourcing.utils.register_topic`, so
`resolve_topic` finds every class of it (and its nested event classes) at the new place. The new
module is imported only when such a topic is read, so the kernel imports no upper layer here.
New events are stored under the new topics. Imported by shared/kernel/__init__.py.
"""

from __future__ import annotations

import importlib
from typing import Any

from eventsourcing.utils import register_topic

MOVED: dict[str, str] = {  # old module → new module
    "shared.contracts": "shared.contract.events",
    "shared.app": "shared.kernel.app",
    "shared.store": "shared.kernel.store",
    "shared.readmodel": "shared.kernel.readmodel",
    "shared.idempotency": "shared.kernel.idempotency",
    "shared.journey": "shared.kernel.journey",
    "shared.translate": "shared.kernel.translate",
    "shared.plan": "shared.domain.plan",
    "shared.primary": "shared.domain.primary",
    "shared.reference": "shared.organisation.reference",
    "shared.wareki": "shared.domain.wareki",
    "shared.audit": "shared.domain.audit",
}


class _MovedModule:
    """Stands for an old module name: an attribute is read from the new module, imported on first use."""

    def __init__(self, new: str) -> None:
        self.__name__ = new

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


for _old, _new in MOVED.items():
    register_topic(_old, _MovedModule(_new))  # type: ignore[arg-type]
