"""AsyncAPI 3.0 documents: each service's subjects on the `JUSOU` stream, published and subscribed.

FastStream generates them: a documentation-only NatsBroker (never connected) declares one
publisher per subject the service publishes (`schema=` the envelope with that event's payload,
one model per schema version) and one subscriber per durable consumer of the inbox, with one
handler per event type it reacts to. FastStream 0.7 cannot express three things, so
`_complete` adds them to its output:

- message headers: every event carries `Nats-Msg-Id` = `event_id` (CONTRACT.md), every
  dead letter its `Jusou-*` headers; FastStream's Message has no `headers`;
- where the correlation id is: FastStream always writes `$message.header#/correlation_id`,
  ours is `correlation_id` in the body;
- a message's name, summary and description (FastStream writes a title only).

The documents are served at `GET /asyncapi.json`, checked in as `docs/asyncapi/<service>.json`
(`jusou asyncapi export|check`) and validated by `@asyncapi/parser` (tools/asyncapi).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, Union

from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field, create_model

from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    PRODUCERS,
    REGISTRY,
    REPLAY_PREFIX,
    REPLAY_STREAM,
    SERVICES,
    STREAM,
    SUBJECT_PREFIX,
    Envelope,
    latest_version,
    subject_for,
)
from shared.messaging.natsauth import consumer_filter
from shared.organisation.reference import DIVISION_TITLES

ASYNCAPI_VERSION = "3.0.0"
#: The suite's own nats-server (`jusou up`); `NATS_URL` points a deployment elsewhere.
DOCUMENTED_SERVER = "nats://127.0.0.1:4223"

#: What each service's relay publishes (its `translate.py` rules; a test holds the two equal): the contract's
#: PRODUCERS (event type → publishing services) read the other way round.
PUBLISHES: dict[str, tuple[str, ...]] = {
    service: tuple(event_type for event_type, producers in PRODUCERS.items() if service in producers)
    for service in SERVICES
}

#: The schema version each producer publishes today, where it is not the newest one.
#: Consumers must accept every version listed in the registry (upcast with `shared.contract.events.upcast`).
PUBLISHED_VERSION: dict[str, int] = {"CaseEscalated": 1}

EVENT_HEADERS = {
    "type": "object",
    "required": ["Nats-Msg-Id"],
    "properties": {
        "Nats-Msg-Id": {
            "type": "string", "format": "uuid",
            "description": "equal to the body's event_id: a republish of the same event is a no-op on the stream",
        },
        "traceparent": {
            "type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C Trace Context of the publish span, when the publisher traces (shared/observe/tracing.py); "
                           "the trace id of a case's journey is its correlation_id without dashes",
        },
        "tracestate": {"type": "string", "description": "W3C Trace Context vendor state, with traceparent"},
        # CloudEvents binary content mode (docs/integrating.md): not required, events published before have none.
        "ce-specversion": {"const": "1.0", "description": "CloudEvents binary content mode (docs/integrating.md)"},
        "ce-id": {"type": "string", "format": "uuid", "description": "CloudEvents id = the body's event_id"},
        "ce-source": {"type": "string", "pattern": "^/jusou/[a-z]+$", "description": "/jusou/<source>"},
        "ce-type": {"type": "string", "pattern": "^jusou\\.[A-Za-z]+\\.v[0-9]+$",
                    "description": "jusou.<event_type>.v<schema_version>"},
        "ce-time": {"type": "string", "description": "occurred_at, RFC 3339"},
        "ce-subject": {"type": "string", "format": "uuid", "description": "case_id"},
        "ce-datacontenttype": {"const": "application/json"},
        "ce-dataschema": {"const": "urn:jusou:schema:Envelope", "description": "the body follows Envelope.json"},
        "ce-sourceposition": {"type": "string", "pattern": "^[0-9]+$", "description": "source_position"},
        "ce-correlationid": {"type": "string", "format": "uuid", "description": "correlation_id"},
        "ce-causationid": {"type": "string", "format": "uuid", "description": "causation_id (absent for a first cause)"},
        "content-type": {"const": "application/json", "description": "not application/cloudevents: binary mode"},
    },
}
DEAD_LETTER_HEADERS = {
    "type": "object",
    "required": ["Jusou-Dead-Letter-Reason", "Jusou-Original-Subject", "Jusou-Consumer", "Nats-Msg-Id"],
    "properties": {
        "Jusou-Dead-Letter-Reason": {"type": "string", "description": "why the message could not be processed"},
        "Jusou-Original-Subject": {"type": "string", "description": "the subject it was consumed from"},
        "Jusou-Consumer": {"type": "string", "description": "the service that gave up on it"},
        "Nats-Msg-Id": {"type": "string", "description": "<service>:<stream sequence of the original>"},
        "Jusou-Replay-Of": {"type": "string", "description": "when a replay failed too: the dead letter it replayed"},
    },
}
REPLAY_HEADERS = {
    "type": "object",
    "required": ["Jusou-Replay-Of", "Jusou-Original-Subject", "Jusou-Consumer", "Nats-Msg-Id"],
    "properties": {
        "Jusou-Replay-Of": {"type": "string", "description": f"the {DEAD_LETTER_STREAM} sequence of the dead letter"},
        "Jusou-Original-Subject": {"type": "string", "description": "the subject it was first consumed from"},
        "Jusou-Consumer": {"type": "string", "description": "the service it is replayed to"},
        "Nats-Msg-Id": {"type": "string", "description": "replay:<consumer>:<dead-letter sequence>: one replay each"},
    },
}


@cache
def message_model(event_type: str, version: int) -> type[BaseModel]:
    """The envelope of one (event type, schema version), its payload typed (a documentation model)."""
    payload = REGISTRY[(event_type, version)]
    fields: dict[str, Any] = {  # (type, field) pairs; a Literal of a value known only at run time
        "event_type": (Literal[event_type], Field(description="the last subject token")),
        "schema_version": (Literal[version], Field(description="version of the payload schema")),
        "payload": (payload, ...),
    }
    model: type[BaseModel] = create_model(
        f"{event_type}V{version}Message",
        __base__=Envelope,
        __doc__=f"`{event_type}` v{version} in the envelope (CONTRACT.md). {payload.__doc__}",
        **fields,
    )
    return model


def versions(event_type: str) -> list[int]:
    return sorted(version for (name, version) in REGISTRY if name == event_type)


def published_version(event_type: str) -> int:
    return PUBLISHED_VERSION.get(event_type, latest_version(event_type))


def body_type(event_type: str) -> Any:
    """Every version's envelope of an event type; one version matches by `schema_version`."""
    models = [message_model(event_type, v) for v in versions(event_type)]
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(title=f"{event_type}Message")]  # noqa: UP007


def _published_note(event_type: str) -> str:
    published = published_version(event_type)
    known = versions(event_type)
    if known == [published]:
        return f"schema_version {published}"
    return (f"schema_version {published} is published today; versions {', '.join(map(str, known))} are defined: "
            "accept all of them (the upcaster in shared/contract/events.py raises v1 to the newest)")


def documentation_broker(service: str, subscriptions: Mapping[str, Sequence[str]]) -> NatsBroker:
    """A NatsBroker that is never started: its publishers and subscribers are the service's subjects."""
    broker = NatsBroker(
        DOCUMENTED_SERVER,
        description="NATS with JetStream: the suite's own nats-server (`jusou up`); `NATS_URL` points elsewhere. "
                    f"Every subject here is in the stream `{STREAM}`.",
        logger=None,
    )
    for event_type in PUBLISHES[service]:
        subject = subject_for(service, event_type)
        payload = REGISTRY[(event_type, published_version(event_type))]
        broker.publisher(
            subject,
            title=subject,
            description=f"{payload.__doc__} Published by {service}'s relay from its event store, once per stored "
                        f"event, in `source_position` order; {_published_note(event_type)}.",
            schema=body_type(event_type),
        )
    dead_letters = f"{DEAD_LETTER_PREFIX}.{service}.>"
    broker.publisher(
        dead_letters,
        title=dead_letters,
        description=f"Messages {service} could not process, unchanged, in the stream `{DEAD_LETTER_STREAM}`: "
                    f"`{DEAD_LETTER_PREFIX}.{service}.<source>.<EventType>`. At once when a message can never be "
                    "processed (not UTF-8 JSON, unknown type or version, invalid payload), after JUSOU_MAX_DELIVER "
                    "tries when the handler fails. The body is the original message's, whatever it was.",
        schema=bytes,
    )
    for source, event_types in sorted(subscriptions.items()):
        durable = f"{service}--{source}"
        filter_subject = consumer_filter(source, event_types)
        others = ("the server delivers no other event of it" if not filter_subject.endswith(".*")
                  else f"other events of {source} are acknowledged and ignored")
        subscriber = broker.subscriber(
            filter_subject,
            stream=JStream(STREAM, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=1),
            title=durable,
            description=(
                f"{service}'s durable pull consumer `{durable}` from the first event, in stream order, so "
                f"{source}'s events arrive in `source_position` order (up to JUSOU_INBOX_BATCH in flight, applied as "
                f"runs in that order: docs/capacity.md §5.1). It reacts to {', '.join(sorted(event_types))}; {others}. "
                "The effect and its tracking record commit together: a redelivery changes nothing."
            ),
        )
        for event_type in sorted(event_types):
            _document_handler(subscriber, source, event_type)
    if subscriptions:
        _document_replays(broker, service)
    return broker


def _document_replays(broker: NatsBroker, service: str) -> None:
    durable = f"{service}--replay"
    subscriber = broker.subscriber(
        f"{REPLAY_PREFIX}.{service}.>",
        stream=JStream(REPLAY_STREAM, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=1),
        title=durable,
        description=(
            f"{service}'s durable pull consumer `{durable}` on the stream `{REPLAY_STREAM}`: the dead letters an "
            f"operator sends back after a fix (`jusou deadletters replay`), on "
            f"`{REPLAY_PREFIX}.{service}.<source>.<EventType>`, each one the original message unchanged. It applies "
            "them as the inbox does, with a tracking record of their own, so a replay applies its event once and a "
            f"second replay changes nothing; a replay that fails again is parked again with `Jusou-Replay-Of`. "
            f"Replays never go on `{STREAM}`."
        ),
    )

    def replayed(body: bytes) -> None:
        """Documentation only: shared/messaging/deadletters.py does the work."""

    subscriber(replayed)


def _document_handler(subscriber: Any, source: str, event_type: str) -> None:
    suffix = f".{event_type}"

    async def only(msg: NatsMessage) -> bool:
        return bool(msg.raw_message.subject.endswith(suffix))

    def handler(body: Any) -> None:
        """Documentation only: the inbox (shared/messaging/inbox.py) does the work."""

    handler.__name__ = event_type
    handler.__annotations__ = {"body": body_type(event_type), "return": None}
    subscriber(handler, filter=only)


def generate(service: str, subscriptions: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The service's AsyncAPI document, as FastStream generates it and completed (see the module)."""
    spec = AsyncAPI(
        documentation_broker(service, subscriptions),
        title=f"Jusou {service}",
        version="0.1.0",
        description=(
            f"{DIVISION_TITLES[service]}: the subjects this service publishes on the NATS JetStream stream "
            f"`{STREAM}` and the ones it subscribes to. Every message body is the envelope of CONTRACT.md; "
            "`payload` depends on `event_type` and `schema_version`. The JSON Schema of every event version is in "
            "shared/contract/schemas/. A new program subscribes to `jusou.>` (or narrower) with its own durable consumer: "
            "docs/integrating.md."
        ),
        identifier=f"urn:jusou:{service}",
        schema_version=ASYNCAPI_VERSION,
    ).to_specification()
    document: dict[str, Any] = json.loads(spec.to_json())
    return _complete(document, service)


def _complete(document: dict[str, Any], service: str) -> dict[str, Any]:
    """Add what FastStream 0.7 cannot express: headers, the correlation id's place, message names."""
    dead_letters = f"{DEAD_LETTER_PREFIX}.{service}."
    for key, message in document["components"]["messages"].items():
        channel = key.split(":", 1)[0]
        if channel == f"{service}--replay":
            message.update(name="ReplayedDeadLetter", summary=f"a dead letter sent back to {service}",
                           headers=REPLAY_HEADERS, contentType="application/octet-stream")
            message.pop("correlationId", None)
            continue
        if channel.startswith(dead_letters):
            message.update(name="DeadLetter", summary=f"a message {service} gave up on", headers=DEAD_LETTER_HEADERS,
                           contentType="application/octet-stream")
            message.pop("correlationId", None)
            continue
        message["headers"] = EVENT_HEADERS
        message["correlationId"] = {
            "description": "the same for every event of one case's journey",
            "location": "$message.payload#/correlation_id",
        }
        if channel.startswith(f"{SUBJECT_PREFIX}.{service}."):
            event_type = channel.rsplit(".", 1)[-1]
            message.update(name=event_type, summary=f"{event_type} ({_published_note(event_type)})")
        else:
            message.update(name=channel, summary=f"what {channel} receives (one message type per event it reacts to)")
    for key in ("channels", "operations"):
        document[key] = dict(sorted(document[key].items()))
    for key in ("messages", "schemas"):
        document["components"][key] = dict(sorted(document["components"][key].items()))
    return document


def documents(subscriptions: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, dict[str, Any]]:
    """Service → its AsyncAPI document, for every service, given what each consumes (its Application's
    `subscriptions`; `jusou asyncapi export` reads them through jusou/runner.py)."""
    return {service: generate(service, subscriptions[service]) for service in SERVICES}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@cache
def _served(service: str, subscriptions: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    return render(generate(service, dict(subscriptions)))


def served(service: str, subscriptions: Mapping[str, Sequence[str]]) -> str:
    """`GET /asyncapi.json`: the same text as docs/asyncapi/<service>.json, generated once per process."""
    return _served(service, tuple(sorted((source, tuple(types)) for source, types in subscriptions.items())))
