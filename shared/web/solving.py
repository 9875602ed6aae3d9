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

`solve_dependencies` itself (`lean_solve`, issue 19, second pass): FastAPI's function, the same steps in the same
order, without asking the request for what no dependant needs. FastAPI's own reads, for every dependant of every
request (a route of three dependencies: three times), the request's path parameters, query string, headers and
cookies and validates each against the dependant's list of them, which for most is empty; each read makes (or
parses, for the query string and the cookies) an object, each validation an empty dict and list. `lean_solve` reads
a group only when the dependant declares a parameter of it; what it validates, the values, the errors and their
order are FastAPI's (its own `request_params_to_args`, `request_body_to_args`, `get_dependant`, …). It is a copy of
FastAPI's function as of the source whose digest is `SOLVE_SOURCE`: on any other FastAPI `install()` leaves FastAPI's
own in place (tests/unit/test_lean_solve.py fails then, and compares the two on routes of every kind of parameter).
A parameter that is declared is read by FastAPI's `request_params_to_args` (`lean_params`) with the facts about its
field that FastAPI works out again per request kept per field: whether it is a parameter model, its aliases, whether
its annotation is a sequence (`_get_param_model`, `_get_param_aliases`, `field_annotation_is_sequence`: about 10 µs
a request for one path parameter); likewise pinned by their source's digests.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from fastapi import params, routing
from fastapi.dependencies import models, utils
from starlette.datastructures import FormData, Headers, ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

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


#: FastAPI's own `solve_dependencies`
FASTAPI_SOLVE: Callable[..., Any] = utils.solve_dependencies
#: the digests of the sources of FastAPI's functions that `lean_solve` and `lean_params` copy
SOLVE_SOURCE = {
    "solve_dependencies": "19825365bd06b12b6f052bb2c17d9471a9661824b502176f3ba177307a81e202",
    "request_params_to_args": "e028df88c5ead1250298181876a116fbd40860d8dbdc887e5146116f991c8b10",
    "_get_multidict_value": "1c0a3bde8f297e563a07a6cc94105ba2b265b6a03b1048954a97d70a59e4a71d",
}
_COPIED: dict[str, Callable[..., Any]] = {"solve_dependencies": FASTAPI_SOLVE, "request_params_to_args": utils.request_params_to_args,
           "_get_multidict_value": utils._get_multidict_value}


def solve_source_digest() -> dict[str, str]:
    return {name: hashlib.sha256(inspect.getsource(function).encode()).hexdigest() for name, function in _COPIED.items()}


_fields: dict[int, tuple[Any, Any, list[tuple[str, str]], bool]] = {}  # id(field) → (field, model, aliases, sequence)


def _field_facts(field: Any) -> tuple[Any, Any, list[tuple[str, str]], bool]:
    """What FastAPI's `request_params_to_args` works out per request about a parameter's field (FastAPI's own
    functions, once per field): its parameter model, its aliases, whether its annotation is a sequence."""
    found = _fields.get(id(field))
    if found is not None and found[0] is field:
        return found
    model = utils._get_param_model(field)
    aliases = utils._get_param_aliases(field) if model is None else []
    sequence = not utils._is_json_field(field) and utils.field_annotation_is_sequence(field.field_info.annotation)
    found = (field, model, aliases, bool(sequence))
    if len(_fields) >= LIMIT:
        _fields.clear()
    _fields[id(field)] = found
    return found


def _multidict_value(sequence: bool, values: Any, alias: str) -> Any:
    """FastAPI's `_get_multidict_value`, given whether the field is a sequence (not JSON)."""
    if sequence and isinstance(values, (ImmutableMultiDict, Headers)):
        value = values.getlist(alias)
        if isinstance(values, FormData):
            value = [item for item in value if not utils._is_empty_file_input(item)]
    else:
        value = values.get(alias, None)
    if (value is None
            or (isinstance(values, FormData)
                and ((isinstance(value, str) and value == "") or utils._is_empty_file_input(value)))
            or (sequence and len(value) == 0)):
        return utils.Undefined  # defaults are applied during validation, as FastAPI does
    return value


def lean_params(fields: Any, received_params: Any) -> tuple[dict[str, Any], list[Any]]:
    """FastAPI's `request_params_to_args`, each field's facts kept (`_field_facts`)."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    if not fields:
        return values, errors
    for field in fields:
        _, model, aliases, sequence = _field_facts(field)
        if model is not None:
            v_, errors_ = utils._request_param_model_to_args(field, model, received_params)
        else:
            _, alias = next((pair for pair in aliases if pair[1] in received_params), aliases[0])
            value = _multidict_value(sequence, received_params, alias)
            field_info = field.field_info
            assert isinstance(field_info, params.Param), "Params must be subclasses of Param"
            loc = (field_info.in_.value, alias)
            v_, errors_ = utils._validate_value_with_model_field(field=field, value=value, values=values, loc=loc)
        if errors_:
            errors.extend(errors_)
        else:
            values[field.name] = v_
    return values, errors


def facts_kept() -> bool:
    """Whether FastAPI's module answers a callable's facts from `_facts` (`install()` done): one lookup then gives all
    three of a dependency's (generator, async generator, coroutine function) instead of three calls."""
    return utils._is_gen_callable is is_gen_callable and utils._is_async_gen_callable is is_async_gen_callable \
        and utils._is_coroutine_callable is is_coroutine_callable


def sub_response() -> Response:
    """FastAPI's sub-response, as its `solve_dependencies` leaves it (`Response()`, its `content-length` deleted, its
    status None: no status, no headers, an empty body, no background), without building and parsing the header that
    it then deletes (tests/unit/test_lean_solve.py compares the two)."""
    response = Response.__new__(utils.Response)
    response.status_code = None  # type: ignore[assignment]
    response.background = None
    response.body = b""
    response.raw_headers = []
    return response


async def lean_solve(
    *,
    request: Request | WebSocket,
    dependant: models.Dependant,
    body: Any = utils.Undefined,
    background_tasks: Any = None,
    response: Response | None = None,
    dependency_overrides_provider: Any | None = None,
    dependency_cache: dict[Any, Any] | None = None,
    async_exit_stack: AsyncExitStack,
    embed_body_fields: bool,
    _uses_scopes_cache: dict[Any, Any] | None = None,
) -> Any:
    """FastAPI's `solve_dependencies` (the source of digest `SOLVE_SOURCE`), reading a group of parameters of the
    request (path, query, headers, cookies) only for a dependant that declares one of that group."""
    request_astack = request.scope.get("fastapi_inner_astack")
    assert isinstance(request_astack, AsyncExitStack), "fastapi_inner_astack not found in request scope"
    function_astack = request.scope.get("fastapi_function_astack")
    assert isinstance(function_astack, AsyncExitStack), "fastapi_function_astack not found in request scope"
    values: dict[str, Any] = {}
    errors: list[Any] = []
    if response is None:
        response = sub_response()
    if dependency_cache is None:
        dependency_cache = {}
    if _uses_scopes_cache is None:
        _uses_scopes_cache = {}
    overrides = getattr(dependency_overrides_provider, "dependency_overrides", None) \
        if dependency_overrides_provider else None
    kept = facts_kept()
    for sub_dependant in dependant.dependencies:
        call = sub_dependant.call
        use_sub_dependant = sub_dependant
        if overrides:
            original_call = sub_dependant.call
            call = overrides.get(original_call, original_call)
            use_sub_dependant = utils.get_dependant(
                path=sub_dependant.path,  # type: ignore[arg-type]
                call=call,
                name=sub_dependant.name,
                parent_oauth_scopes=utils._get_oauth_scopes(dependant=sub_dependant),
                scope=sub_dependant.scope,
                concurrency=sub_dependant.concurrency,
            )
        solved_result = await lean_solve(
            request=request,
            dependant=use_sub_dependant,
            body=body,
            background_tasks=background_tasks,
            response=response,
            dependency_overrides_provider=dependency_overrides_provider,
            dependency_cache=dependency_cache,
            async_exit_stack=async_exit_stack,
            embed_body_fields=embed_body_fields,
            _uses_scopes_cache=_uses_scopes_cache,
        )
        background_tasks = solved_result.background_tasks
        if solved_result.errors:
            errors.extend(solved_result.errors)
            continue
        sub_dependant_cache_key = utils._get_cache_key(dependant=sub_dependant, uses_scopes_cache=_uses_scopes_cache)
        _, generator, async_generator, coroutine = _facts(use_sub_dependant.call) if kept else (
            None, utils._is_gen_callable(use_sub_dependant.call), utils._is_async_gen_callable(use_sub_dependant.call),
            utils._is_coroutine_callable(use_sub_dependant.call))
        if sub_dependant.use_cache and sub_dependant_cache_key in dependency_cache:
            solved = dependency_cache[sub_dependant_cache_key]
        elif generator or async_generator:
            use_astack = request_astack
            if sub_dependant.scope == "function":
                use_astack = function_astack
            solved = await utils._solve_generator(request=request, dependant=use_sub_dependant, stack=use_astack,
                                                  sub_values=solved_result.values)
        elif coroutine:
            if use_sub_dependant.concurrency is None:
                solved = await call(**solved_result.values)  # type: ignore[misc]
            else:
                async with use_sub_dependant.concurrency.get_semaphore():
                    solved = await call(**solved_result.values)  # type: ignore[misc]
        else:
            if use_sub_dependant.concurrency is None:
                solved = await utils.run_in_threadpool(call, **solved_result.values)  # type: ignore[arg-type]
            else:
                async with use_sub_dependant.concurrency.get_semaphore():
                    solved = await utils.run_in_threadpool(call, **solved_result.values)  # type: ignore[arg-type]
        if sub_dependant.name is not None:
            values[sub_dependant.name] = solved
        if sub_dependant_cache_key not in dependency_cache:
            dependency_cache[sub_dependant_cache_key] = solved
    # FastAPI's: values.update(path, query, header, cookie values); errors += path + query + header + cookie errors;
    # a group no parameter of the dependant names gives ({}, []) without reading the request
    for fields, received in ((dependant.path_params, "path_params"), (dependant.query_params, "query_params"),
                             (dependant.header_params, "headers"), (dependant.cookie_params, "cookies")):
        if fields:
            group_values, group_errors = lean_params(fields, getattr(request, received))
            values.update(group_values)
            errors += group_errors
    if dependant.body_params:
        body_values, body_errors = await utils.request_body_to_args(
            body_fields=dependant.body_params, received_body=body, embed_body_fields=embed_body_fields)
        values.update(body_values)
        errors.extend(body_errors)
    if dependant.http_connection_param_name:
        values[dependant.http_connection_param_name] = request
    if dependant.request_param_name and isinstance(request, utils.Request):
        values[dependant.request_param_name] = request
    elif dependant.websocket_param_name and isinstance(request, utils.WebSocket):
        values[dependant.websocket_param_name] = request
    if dependant.background_tasks_param_name:
        if background_tasks is None:
            background_tasks = utils.BackgroundTasks()
        values[dependant.background_tasks_param_name] = background_tasks
    if dependant.response_param_name:
        values[dependant.response_param_name] = response
    if dependant.security_scopes_param_name:
        values[dependant.security_scopes_param_name] = utils.SecurityScopes(
            scopes=utils._get_oauth_scopes(dependant=dependant))
    return utils.SolvedDependency(values=values, errors=errors, background_tasks=background_tasks, response=response,
                                  dependency_cache=dependency_cache)


def install() -> None:
    """`solve_dependencies` asks the tables (idempotent). Refuses to start on a FastAPI whose module no longer
    has these functions under these names (an upgrade: look at tests/unit/test_solving.py). FastAPI's request
    handlers call `lean_solve` where FastAPI's own `solve_dependencies` is the source it copies, else FastAPI's."""
    for name, replacement in PATCHED.items():
        current = getattr(utils, name, None)
        if current is not replacement and current is not ORIGINAL[name]:
            raise RuntimeError(f"fastapi.dependencies.utils.{name} is not FastAPI's own: shared/web/solving.py "
                               "must be checked against this FastAPI")
        setattr(utils, name, replacement)
    if solve_source_digest() == SOLVE_SOURCE and routing.solve_dependencies in (FASTAPI_SOLVE, lean_solve):
        routing.solve_dependencies = lean_solve
