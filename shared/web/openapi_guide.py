"""The first thing `/docs` shows: how to call this service (the review from outside as an integrator).

The document's description was the program's name alone (「包括的相談支援事業 (Intake)」): how to get a token, what a
refusal looks like, how to retry a command or page a list, where the events are, was only in README.md and
docs/integrating.md, which an integrator given a service's address does not have. The same few lines, in Japanese
and English, for every service; each names something the document itself declares (tests/contracts/test_hf3_openapi_guide.py).
"""

from __future__ import annotations

from shared.organisation.reference import DIVISION_TITLES

GUIDE = """
**認証 / Authentication**: 認証不要と書かれた操作のほかは `Authorization: Bearer <token>` が必要です。市の認証基盤（OIDC）の\
トークン、開発用の発行者では `jusou token <職員ID>`（このページでは Authorize に貼り付け）/ every operation not marked \
"no token needed" takes a staff member's bearer token: the city IdP's, or on the development issuer `jusou token \
<staff-id>` (here: Authorize, then paste it). Each operation names the roles that may call it (`x-jusou-roles`) and the \
action they must hold (`x-jusou-action`).

**拒否 / Refusals**: 4xx は JSON の `Refusal` で、`detail`（日本語 / English）と `code` を返します。プログラムは `code` で\
分岐し、人には `detail` を見せてください / a refusal is a `Refusal`: branch on `code`, show `detail`. Each operation \
declares every refusal it can give.

**再送 / Retrying**: 記録する操作（POST・PUT）は `Idempotency-Key: <操作ごとに新しい UUID>` を付けて送り、届いたか分から\
なければ同じキーと同じ本文で再送してください / send each command with `Idempotency-Key: <a new UUID>` and resend it with the \
same key and body when unsure: it is recorded once, and the first answer comes back with `Idempotent-Replayed: true`. A \
PUT takes `If-Match` with the `ETag` it read (412 `changed_meanwhile` if the record changed since).

**一覧 / Lists**: `limit`（1〜500）と `cursor`。次のページの cursor は `X-Next-Cursor` と `Link` にあります / `limit` \
and `cursor`; the next page's cursor is in `X-Next-Cursor` and `Link` (none on the last page).

**イベント / Events**: このサービスが発行・購読する統合イベントは `/asyncapi.json`（NATS JetStream の `JUSOU` \
ストリーム）/ the integration events it publishes and consumes: `/asyncapi.json` (the `JUSOU` stream on NATS JetStream).
"""


def guide(service: str) -> str:
    """The service's OpenAPI description: its program's name, then how to call it."""
    return f"{DIVISION_TITLES[service]}\n{GUIDE}"
