"""FastAPI's facts about a dependency, worked out once (issue 19).

For each dependency of each request, FastAPI's `solve_dependencies` (fastapi/dependencies/utils.py) works out again
what cannot change once the app is built: the dependency's cache key (`_get_cache_key`: its callable, its OAuth
scopes, found by walking its sub-dependencies, and its scope, found by asking whether the callable is a generator),
and whether its callable is a generator, an async generator or a coroutine function (`_is_gen_callable`, …: a
`functools.lru_cache` behind a wrapper object made, hashed and compared per call). About 6 such calls per dependency
per request, 20–30 µs of CPU for a route of four dependencies.

`install()` gives `fastapi.dependencies.utils` the same functions answering from a table: per callable (its three
facts), per `Dependant` (its cache key, valid while its `call` is the same object). Each entry holds the object it
describes, so its `id` cannot be reused while the entry stands; the tables are emptied when they reach `LIMIT`
entries (only dependency overrides, in tests, make new `Dependant`s per request). The answers are FastAPI's own
(computed by its functions the first time): tests/unit/test_solving.py checks them against FastAPI's for every
dependency of every service, and that the functions patched are still the ones `solve_dependencies` calls, so that
an upgrade of FastAPI that changes them fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.dependencies import models, utils

#: FastAPI's own functions, as the library defines them
ORIGINAL: dict[str, Callable[..., Any]] = {
    name: getattr(models, name)
    for name in ("_get_cache_key", "_is_gen_callable", "_is_async_gen_callable", "_is_coroutine_callable")
}
#: entries per table before it is emptied
LIMIT = 4096

_calls: dict[int, tuple[Any, bool, bool, bool]] = {}  # id(call) → (call, generator, async generator, coroutine)
_keys: dict[int, tuple[Any, Any, Any]] = {}  # id(dependant) → (dependant, its call, its cache key)


def _facts(call: Any) -> tuple[Any, bool, bool, bool]:
    found = _calls.get(id(call))
    if found is not None and found[0] is call:
        return found
    found = (call, ORIGINAL["_is_gen_callable"](call), ORIGINAL["_is_async_gen_callable"](call),
             ORIGINAL["_is_coroutine_callable"](call))
    if len(_calls) >= LIMIT:
        _calls.clear()
    _calls[id(call)] = found
    return found


def is_gen_callable(call: Callable[..., Any] | None) -> bool:
    return False if call is None else _facts(call)[1]


def is_async_gen_callable(call: Callable[..., Any] | None) -> bool:
    return False if call is None else _facts(call)[2]


def is_coroutine_callable(call: Callable[..., Any] | None) -> bool:
    return False if call is None else _facts(call)[3]


def get_cache_key(*, dependant: models.Dependant, uses_scopes_cache: Any = None) -> Any:
    found = _keys.get(id(dependant))
    if found is not None and found[0] is dependant and found[1] is dependant.call:
        return found[2]
    key = ORIGINAL["_get_cache_key"](dependant=dependant, uses_scopes_cache=uses_scopes_cache)
    if len(_keys) >= LIMIT:
        _keys.clear()
    _keys[id(dependant)] = (dependant, dependant.call, key)
    return key


#: name in fastapi.dependencies.utils → what it is given
PATCHED: dict[str, Callable[..., Any]] = {
    "_get_cache_key": get_cache_key,
    "_is_gen_callable": is_gen_callable,
    "_is_async_gen_callable": is_async_gen_callable,
    "_is_coroutine_callable": is_coroutine_callable,
}


def install() -> None:
    """`solve_dependencies` asks the tables (idempotent). Refuses to start on a FastAPI whose module no longer
    has these functions under these names (an upgrade: look at tests/unit/test_solving.py)."""
    for name, replacement in PATCHED.items():
        current = getattr(utils, name, None)
        if current is not replacement and current is not ORIGINAL[name]:
            raise RuntimeError(f"fastapi.dependencies.utils.{name} is not FastAPI's own: shared/web/solving.py "
                               "must be checked against this FastAPI")
        setattr(utils, name, replacement)
