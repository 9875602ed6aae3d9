"""NATS authorization: one NATS user per service, each with least privilege (issues 6 and 13).

When the suite starts its own nats-server (`jusou up`, `Suite` without `nats_url`), the server
runs with a generated config: a user per service, a read-only `integrator` for new programs, and
an operator (`jusou-operator`) for the runner and the `jusou` commands. Passwords are generated
once per data folder and kept there (`nats-auth.json`, mode 600). A NATS the suite did not start
(`NATS_URL`) is used with the credentials given in `NATS_USER` / `NATS_PASSWORD`, or none.

What a service's user may do (`permissions`), subject by subject (the JetStream API is requests
on `$JS.API.…`; the list is what nats-py and FastStream were seen to send, logged against a real
nats-server):

- publish its own events `jusou.<service>.>` and its dead letters `jusou-dlq.<service>.>`;
- for each of its durable pull consumers (`durable_consumers`: `<service>--<source>` on `JUSOU`,
  filter `jusou.<source>.<EventType>` where it reacts to one type of the source, else `jusou.<source>.*`
  (`consumer_filter`), shared/messaging/inbox.py; `<service>--replay` on `JUSOU_REPLAY`, filter
  `jusou-replay.<service>.>`, shared/messaging/deadletters.py) and no other: create it with exactly that
  filter (`$JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>`: the server refuses a request whose
  config names another filter than the subject); a consumer of several types of one source is made (or updated
  in place) with one filter per type (`filter_subjects`, `consumer_filters`: the server delivers nothing else;
  issue 19: 7 of a journey's 27 deliveries were types acked unread), whose request carries no filter in its
  subject (`$JS.API.CONSUMER.CREATE.JUSOU.<durable>`): granted for those named durables only (`several_types`),
  never with a wildcard name. It is no read boundary given away: the filter in the subject never was one, as a
  service may read any `JUSOU` message by sequence anyway (`STREAM.MSG.GET.JUSOU`, below); what such a consumer
  of its own could be given is what that already reads. Read its info (`CONSUMER.INFO.<stream>.<durable>`),
  pull (`CONSUMER.MSG.NEXT.<stream>.<durable>`) and ack / nak / term what it pulled
  (`$JS.ACK.<stream>.<durable>.>`). Delete its consumers of `JUSOU` (`CONSUMER.DELETE.JUSOU.<durable>`, its
  partition consumers' too), no other: one of its name that would not deliver what it has still to apply is replaced
  (shared/messaging/adoption.py; session 20). That gives its password no new power: it may already ack every message
  of those consumers unread, and a consumer made again starts where the service says. The legacy
  `CONSUMER.DURABLE.CREATE`, which carries no filter in its subject, is not granted, nor the deletion of its replay
  consumer;
- read the three streams' info (`STREAM.INFO`, also what /metrics counts of its dead letters), and
  get a message of `JUSOU` (`STREAM.MSG.GET.JUSOU`): the relay looks up its newest event on the
  stream to find a tail a crash lost (shared/messaging/relay.py). That request names a sequence or a subject
  in its body, which permissions cannot see: a service may read any `JUSOU` message by sequence,
  the public contract without personal information that an integrator reads too. Never a message
  of `JUSOU_DLQ` or `JUSOU_REPLAY`;
- create the three streams if missing (`STREAM.CREATE.<stream>`, shared/messaging/bus.py), never update,
  delete or purge a stream, nor delete a message (`STREAM.UPDATE/DELETE/PURGE/MSG.DELETE`: not
  granted);
- receive replies only on its own inbox prefix `_INBOX_<service>.>` (`inbox_prefix`): with the
  shared `_INBOX.>` any user could subscribe to every other client's replies, the messages pulled
  by another program's consumers and what the operator reads of the dead letters among them.

Stream creation: the operator creates the streams before any service starts where the suite
starts NATS itself (`jusou up`, `jusou cluster up`); on Docker Compose (docker-compose.yml) and Kubernetes
(deploy/k8s/) the operator's one-shot step `jusou nats init` (the service `nats-init`, the Job `nats-init`)
makes them as `jusou-operator`, and the services start only after it (Compose: `service_completed_successfully`;
Kubernetes: an init container `jusou nats init --wait` as the service's own user); deploy/cluster/compose.yaml too
(three copies each). A NATS of the city's (`NATS_URL`) still leaves it to the first service. Services keep
`STREAM.CREATE` of exactly their three streams for that, and it cannot change anything: nats-server answers
a create of an existing stream with other settings with an error (10058, "stream name already in
use with a different configuration") and leaves the stream as it is; `STREAM.UPDATE` is denied.
What remains: on an empty server whoever holds a service's password could create a stream first,
with settings of their choosing; `jusou up` and the cluster close that by creating them first.

The integrator (`integrator_permissions`) reads `JUSOU` through durable consumers of its own: it
may create, inspect, pull from and ack consumers of `JUSOU` with a filter within `jusou.>`, whatever
their name, except every consumer of Jusou's services (denied by name: NATS matches whole tokens,
so a name prefix such as `integrator-` cannot be required). It cannot publish, delete, read
`JUSOU_DLQ` or `JUSOU_REPLAY`, nor get a message by sequence; its replies come on
`_INBOX_integrator.>`. Integrators share the one user, so they could touch each other's
consumers; a program that needs more separation gets a user of its own.

One thing permissions cannot see either: a consumer's config may name a push `deliver_subject`,
to which nats-server then delivers the stream's messages itself. It refuses one that loops into
the consumer's own stream; one aimed at `jusou-dlq.…` would be stored there (under the original
`jusou.…` subject, so never where a replay consumer looks) only while something subscribes to it.

Docker Compose and Kubernetes run nats-server with deploy/nats/auth.conf (`deploy_config`, written by
`jusou nats config`): the same users and permissions, each password a reference to an environment
variable (`$JUSOU_NATS_INTAKE_PASSWORD`, …) that nats-server resolves when it starts.

With `JUSOU_PARTITIONS` = P > 1 (shared/messaging/partitions.py, docs/capacity.md §6) a service's user also has the
rights of its partition consumers `<service>--<source>--p<k>` (the same four subjects each, with the filter of its
unpartitioned consumer of that source, `consumer_filter`: no further grant, the CREATE subject names the narrower filter)
and of its lease bucket `jusou-partitions-<service>` (`partition_permissions`); a service's rights are rendered for the
P of the environment (`jusou nats config` again when it changes). The integrator is denied more: every name a service
could ever consume under with these subscriptions (`reserved_consumers`: each pair `<service>--<source>` and its
`--p<k>` for every k < MAX_PARTITIONS, whatever P is), since a service adopts an existing consumer of its name and one
made by another before P was raised could decide what the service is never delivered (session 20; the service checks
what it adopts too, shared/messaging/adoption.py, for a pair a later release adds). NATS matches whole tokens and a
consumer's name is one token, so each name is denied by itself: 19 pairs × 65 names × 4 subjects, deploy/nats/auth.conf
about 360 KB (was 19 KB). Measured in session 20 (nats-server 2.15.1; quiet machine / load 20 on 2 cores): nats-server
starts in 50 / 230 ms (was 12 / 32); an integrator's fetch and ack 59 / 114 µs a message (was 53 / 64: each ack's
subject is new, so it is matched against the denials); its consumer info and a service's publish unchanged.

What each service consumes is given (`subscriptions`: service → its Application's `subscriptions`,
source → event types); only the operator tooling loads a service by name (jusou/runner.py).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    REPLAY_PREFIX,
    REPLAY_STREAM,
    STREAM,
    SUBJECT_PREFIX,
)
from shared.settings import PORTS, current, write_private
from shared.tenancy import SEPARATOR as TENANT_SEPARATOR
from shared.tenancy import Tenant

OPERATOR = "jusou-operator"
INTEGRATOR = "integrator"  # read-only: new programs consuming JUSOU (docs/integrating.md §5)
CREDENTIALS_FILE = "nats-auth.json"
SERVER_CONFIG_FILE = "nats-auth.conf"

Credentials = tuple[str, str]
#: Service → what it consumes: upstream source → the event types it reacts to (its Application's `subscriptions`).
Subscriptions = Mapping[str, Mapping[str, Sequence[str]]]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = ROOT / "deploy" / "nats" / "auth.conf"  # docker-compose.yml, deploy/cluster/compose.yaml
K8S_CONFIG_MAP = ROOT / "deploy" / "k8s" / "nats-auth.yaml"  # the same text for the nats pods (deploy/k8s/)
CONFIG_MAP_NAME, CONFIG_MAP_KEY = "nats-auth", "auth.conf"

API = "$JS.API"
#: The most partitions per source `JUSOU_PARTITIONS` may ask for (shared/messaging/partitions.py): the integrator is
#: denied every partition consumer's name below it (`reserved_consumers`), so raising P needs no new NATS config first.
MAX_PARTITIONS = 64
STREAMS = (STREAM, DEAD_LETTER_STREAM, REPLAY_STREAM)


def inbox_prefix(user: str) -> str:
    """Where `user`'s replies come (nats-py `inbox_prefix`): `_INBOX_<user>`, subscribable by it alone. A tenant's
    user `<service>@<tenant>` (issue 18) has its service's, `_INBOX_<service>`, inside its tenant's account."""
    return f"_INBOX_{user.partition(TENANT_SEPARATOR)[0]}"


def pull_inbox_prefix(user: str) -> bytes:
    """FastStream's `subscriber(inbox_prefix=…)` for a pull consumer of `user` (it wants the dot;
    its default, `_INBOX.`, is not the connection's)."""
    return f"{inbox_prefix(user)}.".encode()


def consumer_filter(source: str, event_types: Iterable[str] = ()) -> str:
    """The filter of a service's durable consumer of `source`: `jusou.<source>.<EventType>` when the service reacts
    to one event type of that source, so the server delivers nothing else (issue 19: a journey's deliveries fell from
    42 to 27); `jusou.<source>.*` when it reacts to several, the rest acked unread by the inbox. Several types are
    never named in one consumer (`filter_subjects`): such a create request carries no filter in its subject
    (`$JS.API.CONSUMER.CREATE.<stream>.<durable>`), and granting that would let the service give its consumer any
    filter."""
    types = sorted(set(event_types))
    return f"{SUBJECT_PREFIX}.{source}.{types[0]}" if len(types) == 1 else f"{SUBJECT_PREFIX}.{source}.*"


def consumer_filters(source: str, event_types: Iterable[str]) -> list[str]:
    """The filters of a service's durable consumer of `source` that reacts to several of its event types: one
    `jusou.<source>.<EventType>` each (`filter_subjects`), so the server delivers none of the others (issue 19);
    [] for one type or none (then `consumer_filter` is the one filter)."""
    types = sorted(set(event_types))
    return [f"{SUBJECT_PREFIX}.{source}.{t}" for t in types] if len(types) > 1 else []


def several_types(service: str, sources: Iterable[str] | Mapping[str, Sequence[str]]) -> list[str]:
    """The service's durable consumers of `JUSOU` made with several filters (`consumer_filters`), by name: only they may
    be created without a filter in the request's subject. None when only the sources' names are given."""
    types: Mapping[str, Sequence[str]] = sources if isinstance(sources, Mapping) else {}
    return [f"{service}--{source}" for source in sorted(types) if consumer_filters(source, types[source])]


def durable_consumers(service: str, sources: Iterable[str] | Mapping[str, Sequence[str]]) -> dict[str, tuple[str, str]]:
    """The service's durable consumers: name → (stream, filter subject), as shared/messaging/inbox.py and
    shared/messaging/deadletters.py create them from its Application's `subscriptions` (source → event types;
    given only the sources' names, each filter is the source's every type)."""
    types: Mapping[str, Sequence[str]] = sources if isinstance(sources, Mapping) else {}
    names = sorted(sources)
    found = {f"{service}--{source}": (STREAM, consumer_filter(source, types.get(source, ()))) for source in names}
    if names:  # a service that consumes nothing parks nothing, so has no replay consumer
        found[f"{service}--replay"] = (REPLAY_STREAM, f"{REPLAY_PREFIX}.{service}.>")
    return found


def consumer_subjects(stream: str, durable: str, filter_subject: str) -> list[str]:
    """The subjects a client publishes to create, inspect, pull from and ack one durable pull consumer."""
    return [
        f"{API}.CONSUMER.CREATE.{stream}.{durable}.{filter_subject}",
        f"{API}.CONSUMER.INFO.{stream}.{durable}",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def delete_subject(stream: str, durable: str) -> str:
    """The subject a client publishes to delete one durable consumer."""
    return f"{API}.CONSUMER.DELETE.{stream}.{durable}"


# --- partitions (JUSOU_PARTITIONS > 1, shared/messaging/partitions.py): their consumers' names and rights ----------


def consumer_name(service: str, source: str, partition: int) -> str:
    return f"{service}--{source}--p{partition}"


def bucket_name(service: str) -> str:
    return f"jusou-partitions-{service}"


def partition_consumers(service: str, sources: Iterable[str] | Mapping[str, Sequence[str]],
                        partitions: int) -> dict[str, tuple[str, str]]:
    """name → (stream, filter subject) of the service's partition consumers (as `durable_consumers`): each has the
    filter of the source's unpartitioned consumer (`consumer_filter`: the one event type the service takes of the source,
    else `jusou.<source>.*`), so with P partitions an event of a type the service does not take is delivered to none of
    them, not P times (issue 19); given only the sources' names, each filter is the source's every type."""
    types: Mapping[str, Sequence[str]] = sources if isinstance(sources, Mapping) else {}
    return {consumer_name(service, source, k): (STREAM, consumer_filter(source, types.get(source, ())))
            for source in sorted(sources) for k in range(partitions)}


def partition_permissions(service: str, sources: Iterable[str] | Mapping[str, Sequence[str]], partitions: int) -> list[str]:
    """What a service's NATS user must publish to, besides natsauth.permissions, to consume in P partitions: its
    partition consumers (create with their filter, info, pull, ack) and its own lease bucket (create it if
    missing, read its info, direct-get and write its keys). Nothing when P is 1. Given the sources with their event
    types (source → types), each consumer may be created only with `consumer_filter`'s filter; given names alone,
    only with `jusou.<source>.*`."""
    if partitions <= 1:
        return []
    bucket = bucket_name(service)
    return [
        *(subject for durable, (stream, filter_subject) in partition_consumers(service, sources, partitions).items()
          for subject in consumer_subjects(stream, durable, filter_subject)),
        *(delete_subject(stream, durable) for durable, (stream, _) in partition_consumers(service, sources, partitions).items()),
        f"{API}.STREAM.INFO.KV_{bucket}",
        f"{API}.STREAM.CREATE.KV_{bucket}",
        f"{API}.DIRECT.GET.KV_{bucket}.>",
        f"$KV.{bucket}.>",
    ]


def permissions(service: str, sources: Iterable[str] | Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What `service`'s NATS user, consuming from `sources`, may publish and subscribe to (the module's
    docstring says why)."""
    consumers = [subject for durable, (stream, filter_subject) in durable_consumers(service, sources).items()
                 for subject in consumer_subjects(stream, durable, filter_subject)]
    # a consumer of several types of a source, made or updated with one filter per type (`consumer_filters`): its
    # request names no filter in its subject; only these named durables (the module's docstring says why it is safe)
    consumers += [f"{API}.CONSUMER.CREATE.{STREAM}.{durable}" for durable in several_types(service, sources)]
    # its consumers of JUSOU may be deleted by it, and only they: one that would not deliver what the service has still
    # to apply is replaced (shared/messaging/adoption.py); no power its password lacks, which may ack them all unread
    consumers += [delete_subject(stream, durable) for durable, (stream, _) in durable_consumers(service, sources).items()
                  if stream == STREAM]
    # JUSOU_PARTITIONS = P > 1: its partition consumers and its lease bucket (docs/capacity.md §6); nothing for P = 1
    consumers += partition_permissions(service, sources, current().partitions)
    return {
        "publish": {"allow": [
            f"{SUBJECT_PREFIX}.{service}.>",  # its own integration events (the relay)
            f"{DEAD_LETTER_PREFIX}.{service}.>",  # what its consumers could not process
            *(f"{API}.STREAM.INFO.{stream}" for stream in STREAMS),
            *(f"{API}.STREAM.CREATE.{stream}" for stream in STREAMS),  # if missing; an existing one stays
            f"{API}.STREAM.MSG.GET.{STREAM}",  # the relay: its newest event on the stream
            *consumers,  # its own durable pull consumers, nobody else's
        ]},
        "subscribe": {"allow": [f"{inbox_prefix(service)}.>"]},
    }


def reserved_consumers(subscriptions: Subscriptions) -> list[str]:
    """Every name of `JUSOU` a service could ever consume under with these subscriptions, whatever `JUSOU_PARTITIONS`
    is now or is raised to: each `<service>--<source>` and its `--p<k>` for every k < MAX_PARTITIONS. A service adopts
    an existing consumer of its name (shared/messaging/adoption.py checks it first), so none may be made by another."""
    return [name for service, sources in subscriptions.items()
            for durable, (stream, _) in durable_consumers(service, sources).items() if stream == STREAM
            for name in (durable, *(f"{durable}--p{k}" for k in range(MAX_PARTITIONS)))]


def integrator_permissions(subscriptions: Subscriptions) -> dict[str, Any]:
    """The read-only integrator: consumers of its own on `JUSOU`, never one a service uses or could use
    (`reserved_consumers`: every partition name up to MAX_PARTITIONS, not only those of today's P)."""
    return {
        "publish": {
            "allow": [
                f"{API}.STREAM.INFO.{STREAM}",
                f"{API}.CONSUMER.CREATE.{STREAM}.*.{SUBJECT_PREFIX}.>",
                f"{API}.CONSUMER.INFO.{STREAM}.*",
                f"{API}.CONSUMER.MSG.NEXT.{STREAM}.*",
                f"$JS.ACK.{STREAM}.*.>",
            ],
            "deny": [subject for durable in reserved_consumers(subscriptions)
                     for subject in consumer_subjects(STREAM, durable, ">")],
        },
        "subscribe": {"allow": [f"{inbox_prefix(INTEGRATOR)}.>"]},
    }


def credentials(data_dir: Path, services: Iterable[str] = tuple(PORTS)) -> dict[str, str]:
    """User → password for the operator, the integrator and each service, made once and kept in the data folder."""
    return credentials_at(Path(data_dir) / CREDENTIALS_FILE, services)


def credentials_at(path: Path, services: Iterable[str] = tuple(PORTS)) -> dict[str, str]:
    """`credentials`, kept in the file at `path` (a tenant's: shared/tenancy.py `Tenant.credentials_path`)."""
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    wanted = (OPERATOR, INTEGRATOR, *services)
    if any(user not in known for user in wanted):
        known |= {user: secrets.token_urlsafe(24) for user in wanted if user not in known}
        write_private(path, (json.dumps(known, indent=2) + "\n").encode())
    return known


def users(passwords: Mapping[str, str], subscriptions: Subscriptions) -> list[dict[str, Any]]:
    """The `authorization.users` of nats-server: the operator (may do anything), the integrator and
    each service's user."""
    found: list[dict[str, Any]] = [{"user": OPERATOR, "password": passwords[OPERATOR]}]
    found += [{"user": INTEGRATOR, "password": passwords[INTEGRATOR],
               "permissions": integrator_permissions(subscriptions)}]
    found += [{"user": s, "password": passwords[s], "permissions": permissions(s, sources)}
              for s, sources in subscriptions.items()]
    return found


def server_config(data_dir: Path, subscriptions: Subscriptions, tenants: Sequence[Tenant] = ()) -> Path:
    """Write the nats-server config (users and their permissions) into the data folder; return its path.
    With `tenants` (issue 18): one account per tenant instead, each with the same users inside it
    (`tenant_accounts`), their passwords kept in each tenant's own folder."""
    if tenants:
        passwords_of = {t.id: credentials_at(t.credentials_path, subscriptions) for t in tenants}
        config: dict[str, Any] = {"accounts": tenant_accounts(tenants, passwords_of, subscriptions)}
    else:
        config = {"authorization": {"users": users(credentials(data_dir, subscriptions), subscriptions)}}
    # nats-server reads JSON; quoted strings keep `$JS…` from being taken as a variable.
    text = json.dumps(config, indent=2, ensure_ascii=False)
    path = Path(data_dir) / SERVER_CONFIG_FILE
    write_private(path, (text + "\n").encode())
    return path


def tenant_accounts(tenants: Sequence[Tenant], passwords_of: Mapping[str, Mapping[str, str]],
                    subscriptions: Subscriptions) -> dict[str, Any]:
    """nats-server `accounts` (issue 18): one per tenant, JetStream enabled in it (its own `JUSOU` streams), with the
    users and permissions of a single-tenant suite inside it, each named `<user>@<tenant>` (a user's name is unique
    across the server; its subjects, streams, consumers and inbox prefix are its account's alone)."""
    found: dict[str, Any] = {}
    for tenant in tenants:
        inside = users(passwords_of[tenant.id], subscriptions)
        found[tenant.account] = {"jetstream": "enabled",
                                 "users": [{**user, "user": tenant.nats_user(user["user"])} for user in inside]}
    return found


def tenant_password_variable(tenant: Tenant, user: str) -> str:
    """The variable holding a tenant's user's password where nats-server reads a deployment's config."""
    return f"JUSOU_NATS_{tenant.id.upper().replace('-', '_')}_{'OPERATOR' if user == OPERATOR else user.upper()}_PASSWORD"


def tenant_deploy_config(tenants: Sequence[Tenant], subscriptions: Subscriptions) -> str:
    """`jusou nats config --tenants FILE`: the accounts of `tenant_accounts`, each password a reference to
    `$JUSOU_NATS_<TENANT>_<USER>_PASSWORD` (hex, as for deploy/nats/auth.conf)."""
    references = {t.id: {user: f"${tenant_password_variable(t, user)}" for user in (OPERATOR, INTEGRATOR, *subscriptions)}
                  for t in tenants}
    text = json.dumps({"accounts": tenant_accounts(tenants, references, subscriptions)}, indent=2, ensure_ascii=False)
    for per_tenant in references.values():
        for reference in per_tenant.values():
            text = text.replace(json.dumps(reference), reference)
    header = DEPLOY_HEADER.replace("the NATS users of", "the NATS accounts, one per tenant (issue 18), of a deployment like")
    return header + text + "\n"


def password_variable(user: str) -> str:
    """The environment variable with `user`'s password where compose and Kubernetes run nats-server."""
    return f"JUSOU_NATS_{'OPERATOR' if user == OPERATOR else user.upper()}_PASSWORD"


DEPLOY_HEADER = """\
# Jusou: the NATS users of docker-compose.yml, deploy/cluster/compose.yaml and deploy/k8s/ (issues 6, 13).
# Rendered by shared/messaging/natsauth.py (`jusou nats config`) from the users and permissions `jusou up`
# gives its own nats-server; do not edit. Each service may publish only its own subjects and use
# only its own durable consumers, never delete, purge or update a stream (shared/messaging/natsauth.py says
# subject by subject why); integrator (new programs) only reads JUSOU through consumers of its own;
# jusou-operator (the `jusou` commands) may do anything. nats-server takes each password from the
# environment variable named after `$` (compose: `.env`; Kubernetes: the Secret jusou-secrets).
# It reads the variable's value as a config value: make the passwords hex (secrets.token_hex),
# since a value such as `-abc` or `123` is refused or read as a number.
"""


def deploy_config(subscriptions: Subscriptions) -> str:
    """deploy/nats/auth.conf: `server_config`'s users, each password a `$JUSOU_NATS_<USER>_PASSWORD` reference."""
    references = {user: f"${password_variable(user)}" for user in (OPERATOR, INTEGRATOR, *subscriptions)}
    text = json.dumps({"authorization": {"users": users(references, subscriptions)}}, indent=2, ensure_ascii=False)
    # Unquoted, `$NAME` is a variable (nats-server looks it up in the environment); quoted, a literal.
    for reference in references.values():
        text = text.replace(json.dumps(reference), reference)
    return DEPLOY_HEADER + text + "\n"


def config_map(subscriptions: Subscriptions) -> str:
    """deploy/k8s/nats-auth.yaml: `deploy_config` as the ConfigMap the nats pods mount at /etc/nats."""
    body = "".join(f"    {line}\n" if line else "\n" for line in deploy_config(subscriptions).splitlines())
    return f"""\
# The NATS users (issues 6, 13): deploy/nats/auth.conf as a ConfigMap, mounted by the nats pods at
# /etc/nats (nats.yaml). Rendered by shared/messaging/natsauth.py (`jusou nats config`); do not edit.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {CONFIG_MAP_NAME}
  namespace: jusou
  labels:
    app.kubernetes.io/name: nats
    app.kubernetes.io/part-of: jusou
data:
  {CONFIG_MAP_KEY}: |
{body}"""


def deploy_files(subscriptions: Subscriptions) -> dict[Path, str]:
    """The checked-in files `jusou nats config` writes (jusou/natsconfig.py): path → text."""
    return {DEPLOY_CONFIG: deploy_config(subscriptions), K8S_CONFIG_MAP: config_map(subscriptions)}


def operator_credentials(data_dir: Path) -> Credentials | None:
    """The operator's user and password if the suite started its own NATS from this data folder."""
    path = Path(data_dir) / CREDENTIALS_FILE
    if not path.exists():
        return None
    known = json.loads(path.read_text(encoding="utf-8"))
    return (OPERATOR, known[OPERATOR]) if OPERATOR in known else None


def client_credentials(user: str | None = None, password: str | None = None) -> Credentials | None:
    """Who a client connects as: given credentials, else `NATS_USER`/`NATS_PASSWORD`, else the operator
    of the data folder (`JUSOU_DATA_DIR`) when `jusou up` made one, else nobody (a NATS without auth)."""
    if user:
        return (user, password or "")
    env = current()
    if env.nats_user:
        return (env.nats_user, env.nats_password)
    return operator_credentials(env.data_path)


def broker_credentials(user: str | None = None, password: str | None = None) -> dict[str, Any]:
    """`NatsBroker(...)` keyword arguments for `client_credentials` (none for a NATS without auth): the
    user and its private reply prefix."""
    found = client_credentials(user, password)
    if found is None:
        return {}
    from faststream.security import SASLPlaintext

    return {"security": SASLPlaintext(username=found[0], password=found[1]), "inbox_prefix": inbox_prefix(found[0])}
