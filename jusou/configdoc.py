"""The configuration reference, generated from the settings model so it cannot drift.

`jusou config export` writes docs/configuration.md and the README's settings table (between its
`<!-- settings-table -->` markers); `jusou config check` exits 1 when either differs from what
SETTINGS gives (tests/contracts/test_configuration.py runs the check). SETTINGS is derived from the
fields of `shared.settings.Environment`: add a field there, then export; never edit the table by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from shared import settings

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DOC = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"
TABLE = re.compile(r"(<!-- settings-table -->\n)(.*?)(<!-- /settings-table -->)", re.DOTALL)

INTRO = """\
# 設定 / Configuration reference

<!-- Generated from shared/settings.py (the Environment model) by `jusou config export`; do not edit by hand. -->

すべての設定は環境変数で与えます（`shared/settings.py` の型付きモデル `Environment`）。この表はそこから生成され、
`jusou config check`（とテスト）が食い違いを検出します。値が正しくないと、各サービス・`jusou up`・`jusou`
コマンドは起動時に、変数名・値・使える値を示して終了コード 2 で止まります。

Every setting comes from the environment and is declared once, as a typed field of the model
`Environment` in `shared/settings.py` (pydantic-settings). This page is generated from it
(`jusou config export`); `jusou config check` and a test fail when it drifts. A variable not in this
table is not read by Jusou. A blank variable (empty, or spaces only) counts as unset and takes its default;
`JUSOU_CIPHER_KEY` of spaces only is refused, so that a key that failed to load is not taken for no key. A bad value (`JUSOU_PG_PORT=abc`,
`JUSOU_LOG_FORMAT=jsno`, `JUSOU_STORE=mysql`, a port outside 1–65535) stops a service, `jusou up` and
the `jusou` commands at start with status 2 and a message naming the variable, the value and what is
allowed, in Japanese and English.

"""

OUTRO = """
`<SERVICE>` is the service's name in capitals: `INTAKE`, `COLLABORATION`, `MEETING`, `OUTREACH`,
`PARTICIPATION`, `COMMUNITY` (ports in CONTRACT.md).

## Where they are set / 設定の置き場所

| where | how |
|---|---|
| development (`jusou up`, `python3 dev.py up`) | the shell's environment; the defaults above run everything locally (SQLite, the suite's own NATS) |
| Docker Compose (`docker-compose.yml`) | each service's `environment:`; the secrets `JUSOU_CIPHER_KEY`, `JUSOU_PG_PASSWORD` and the NATS passwords `JUSOU_NATS_<SERVICE>_PASSWORD`, `JUSOU_NATS_OPERATOR_PASSWORD` come from a `.env` file beside the compose file, kept out of git (template: `deploy/env.example`); each service gets only its own NATS password |
| Kubernetes (`deploy/k8s/`) | the ConfigMap `jusou-settings` (`settings.yaml`) for plain settings; the Secret `jusou-secrets` (`secret.yaml`, a template with placeholders) for `JUSOU_CIPHER_KEY`, `JUSOU_PG_PASSWORD` and the NATS passwords, each pod getting only the keys it needs |

Every service of one suite must use the same `JUSOU_CIPHER_KEY`: the stored events are encrypted
with it, and without it they cannot be read. Keep it with the database backups.

## Staff sign-in / 職員の認証

Every request but `/healthz`, `/readyz`, `/metrics`, `/asyncapi.json`, the API docs and the sign-in
page carries a staff member's OIDC-style JWT (`Authorization: Bearer …`, or on the `/ui/` pages only
the UI's `jusou_session` cookie); what each role may do is `shared/web/policy.py`. Sessions, CSRF and
sign-in throttling: README "Staff, roles and tokens". Two ways to issue the tokens:

- **the city's identity provider**: set `JUSOU_OIDC_ISSUER` and `JUSOU_OIDC_JWKS_URL` on every
  service; its access tokens must carry `aud` = `JUSOU_OIDC_AUDIENCE`, the staff id, the division
  code and the roles (claim names above), signed with RS256 or ES256;
- **the development issuer** (unset): every service must see the same auth folder. `jusou up` makes
  its key pair under `<JUSOU_DATA_DIR>/auth/`; accounts come from `jusou staff add` or
  `jusou up --demo-staff`. In Docker Compose the six services share the volume `jusou-data` (their
  `/data`); `docker compose exec intake jusou staff add …` adds an account. On Kubernetes each pod
  has its own data folder: set the city's identity provider there.
"""


def settings_markdown() -> str:
    """The README's configuration table, made from `shared.settings.SETTINGS`."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in settings.SETTINGS:
        default = setting.default
        shown = "(empty)" if not default else default if default.startswith("(") else f"`{default}`"
        meaning = setting.meaning.replace("|", "\\|")
        rows.append(f"| `{setting.name}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


def configuration_markdown() -> str:
    """docs/configuration.md: the table of every setting (name, default, meaning) and where to set them."""
    return INTRO + settings_markdown() + OUTRO


def readme_with_table(text: str) -> str:
    """The README with its settings table replaced by the generated one."""
    if not TABLE.search(text):
        raise SystemExit("README.md lacks the <!-- settings-table --> … <!-- /settings-table --> markers")
    return TABLE.sub(lambda m: m.group(1) + settings_markdown() + m.group(3), text, count=1)


def expected(doc: Path = CONFIG_DOC, readme: Path = README) -> dict[Path, str]:
    current = readme.read_text(encoding="utf-8") if readme.exists() else ""
    return {doc: configuration_markdown(), readme: readme_with_table(current)}


def differences(doc: Path = CONFIG_DOC, readme: Path = README) -> list[str]:
    """What `jusou config export` would change, one line per file."""
    found = []
    for path, text in expected(doc, readme).items():
        if not path.exists():
            found.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"differs: {path}")
    return found


def export(args: argparse.Namespace) -> int:
    for path, text in expected(Path(args.doc), Path(args.readme)).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def check(args: argparse.Namespace) -> int:
    found = differences(Path(args.doc), Path(args.readme))
    if found:
        print("\n".join(found), file=sys.stderr)
        print("設定の表が古くなっています。`jusou config export` を実行してください / "
              "the configuration reference is stale: run `jusou config export` and review the change", file=sys.stderr)
        return 1
    print("configuration reference is up to date / 設定の表は最新です")
    return 0


def add_config_commands(commands: argparse._SubParsersAction) -> None:
    """`jusou config export|check`."""
    config = commands.add_parser("config", help="the configuration reference generated from SETTINGS")
    actions = config.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("export", export, "write docs/configuration.md and the README's settings table"),
        ("check", check, "exit 1 if docs/configuration.md or the README's table differs from SETTINGS"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--doc", default=str(CONFIG_DOC), help="the configuration reference (docs/configuration.md)")
        action.add_argument("--readme", default=str(README), help="the README with the settings table")
        action.set_defaults(handler=handler)
