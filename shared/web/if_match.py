"""`ETag` and `If-Match` for the JSON API's PUTs that replace what a client read (review: lost updates).

The GET of a resource answers with a strong `ETag`: its aggregate's version (`"v<version>"`). A PUT that replaces
it takes an optional `If-Match`: absent, the last writer wins as before (backward compatible); naming the version the
aggregate has now (or `*`), the change is applied; naming another (or anything that is no entity tag of it) the PUT
is refused with 412 `changed_meanwhile` and nothing is recorded; naming the version it has now but not as given (`v2`
without its quotes, a weak `W/"v2"`) it is refused with 412 `tag_not_as_given`, saying how to send it. The check is made
against the aggregate as the store holds it when the PUT is served, and again as the command saves it (`held_to`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Header

from shared.kernel.expected import expecting
from shared.kernel.journey import DomainError

__all__ = ["ChangedMeanwhile", "TagNotAsGiven", "etag_header", "etag_of", "held_to", "if_match_header", "precondition_failed",
           "require_version"]


class ChangedMeanwhile(DomainError):
    """`If-Match` names another version of the record than it has now (another client changed it meanwhile)."""

    status = 412

    def __init__(self, what_ja: str, what_en: str, read_at: str, now: str) -> None:
        super().__init__(
            f"{what_ja}は、取得した後に更新されています（現在の ETag {now}）。{read_at} を GET し直して、いまの内容と"
            f"送ろうとした内容を見比べ、必要なら直して、新しい ETag を If-Match に付けて送り直してください。"
            f"今回の変更は記録していません / the {what_en} changed since you read it (its ETag is now {now}): nothing "
            f"was recorded. GET {read_at} again, compare it with what you meant to send, and send again with the new "
            f"ETag in If-Match")


def etag_of(version: int) -> str:
    """An aggregate's version as a strong entity tag."""
    return f'"v{version}"'


def require_version(if_match: str | None, version: int, what_ja: str, what_en: str, read_at: str) -> None:
    """Refuse (412) a PUT whose `If-Match` names no version the aggregate has now; without `If-Match`, nothing."""
    if if_match is None:
        return
    now = etag_of(version)
    named = [tag.strip() for tag in if_match.split(",")]
    if "*" not in named and now not in named:
        if any(_bare(tag) == now.strip('"') for tag in named):
            raise TagNotAsGiven(read_at, now)
        raise ChangedMeanwhile(what_ja, what_en, read_at, now)


def _bare(tag: str) -> str:
    """An entity tag without what a client may have changed of it: a weak prefix (`W/`) and the quotes."""
    return tag.removeprefix("W/").removeprefix("w/").strip().strip('"')


class TagNotAsGiven(DomainError):
    """`If-Match` names the record's version, but not as its ETag is written (`v2` without quotes, a weak `W/"v2"`):
    refused all the same (412, nothing recorded), saying how to send it, not that the record changed."""

    status = 412

    def __init__(self, read_at: str, now: str) -> None:
        super().__init__(
            f"If-Match には ETag を受け取ったとおり、引用符を含めて {now} と送ってください（W/ を付けず、引用符を外さずに）。"
            f"{read_at} はその後更新されていません。今回の変更は記録していません / send the ETag in If-Match exactly as "
            f"given, quotes included: {now} (no W/ prefix, quotes kept). {read_at} has not changed since; nothing was "
            f"recorded")


@contextmanager
def held_to(if_match: str | None, read: Callable[[], Any], what_ja: str, what_en: str, read_at: str) -> Iterator[None]:
    """`require_version` on the aggregate `read` gives, and, for the command run in the block, the same version
    required of that aggregate as the command saves it (shared/kernel/expected.py): two PUTs with one `If-Match`
    served at the same time cannot both be recorded (the later is 412, nothing recorded). Without `If-Match`, or with
    `*`, nothing is read nor held."""
    if if_match is None:
        yield
        return
    aggregate = read()
    require_version(if_match, aggregate.version, what_ja, what_en, read_at)
    if "*" in (tag.strip() for tag in if_match.split(",")):
        yield
        return

    def refuse(loaded: int) -> None:
        raise ChangedMeanwhile(what_ja, what_en, read_at, etag_of(loaded))

    with expecting(aggregate.id, aggregate.version, refuse):
        yield


def if_match_header(read_at: str) -> Any:
    """The `If-Match` header parameter of a PUT (optional: without it the PUT replaces as before)."""
    return Header(max_length=200, description=(
        f"{read_at} の ETag。省略すると従来どおり後から送った内容で上書きします。付けると、その後に更新されていれば "
        f"412 で拒否し何も記録しません / the ETag of {read_at}: optional (without it the last writer wins, as "
        f"before); with it, refused with 412 and nothing recorded if the record changed since"))


def etag_header(put: str) -> dict[int | str, dict[str, Any]]:
    """The GET's 200 declaring its `ETag` header (OpenAPI), for `responses=`."""
    return {200: {"headers": {"ETag": {
        "description": f"版 / the record's version (strong): send it as If-Match with {put} to be refused (412) if "
                       "the record changed meanwhile", "schema": {"type": "string"}}}}}


def precondition_failed() -> dict[int | str, dict[str, Any]]:
    """The PUT's 412 (OpenAPI), for `responses=`."""
    return {412: {
        "description": "If-Match が現在の版と違います。GET し直して見比べ、送り直してください（現在の版でも引用符を外した "
                       "v2 や W/\"v2\" は `tag_not_as_given`: ETag を受け取ったとおりに送ってください） / If-Match names another "
                       "version than the record has now: GET it again, compare, send again (code `changed_meanwhile`; "
                       "nothing recorded). The version it has now but not as given (`v2` without its quotes, `W/\"v2\"`): "
                       "code `tag_not_as_given`, send the ETag as given",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}}}
