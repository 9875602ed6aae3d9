"""`jusou report --fy 2026 [--format text|csv|xlsx|json] [--out FILE]`: the city's figures (issue 16).

The same door as the page (`GET /figures?fy=…` on any service, which gathers the six), with the
operator's token (`JUSOU_TOKEN`, else a 5-minute auditor token of the development issuer). Small
cells are 「3未満」 in every format; a service that does not answer is named, and the exit status is 1.
On a deployment of many municipalities (issue 18), `--tenant ID` (required there): that tenant's figures alone,
asked with a token of its own (jusou/tenant.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jusou.tenant import operator_token
from jusou.tenant import option as tenant_option
from shared import settings
from shared.domain.figures import fiscal_year_of, render_text
from shared.domain.wareki import today_in_japan


def register(commands: Any) -> None:
    """Add `jusou report` to the command line."""
    report = commands.add_parser("report", help="the city's figures for a fiscal year (事業目標・評価指標)")
    report.add_argument("--fy", type=int, default=None, help="fiscal year, e.g. 2026 (2026-04-01..2027-03-31); "
                        "default: this one")
    report.add_argument("--format", choices=("text", "csv", "xlsx", "json"), default="text")
    report.add_argument("--out", help="write to this file (needed for xlsx on a terminal)")
    report.add_argument("--service", choices=tuple(settings.PORTS), default=None,
                        help="the service to ask (default: the first that answers)")
    tenant_option(report, run)


def fetch(path: str, service: str | None) -> tuple[bytes, list[str]]:
    """GET `path` from the service (or the first of the six that answers) with the operator's token: the
    body, and the services the door could not gather from (`X-Jusou-Missing`)."""
    names = [service] if service else list(settings.PORTS)
    problems = []
    for name in names:
        url = f"http://127.0.0.1:{settings.current().port_of(name)}{path}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {operator_token()}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                missing = response.headers.get("X-Jusou-Missing") or ""
                return bytes(response.read()), [m for m in missing.split(",") if m]
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise SystemExit(f"{name}: {exc.code} {detail}") from None
        except urllib.error.URLError as exc:
            problems.append(f"{name}: {exc.reason}")
    raise SystemExit("どのサービスにも接続できません / no service answers: " + "; ".join(problems))


def run(args: argparse.Namespace) -> int:
    fy = fiscal_year_of(today_in_japan()) if args.fy is None else args.fy  # `--fy 0` was taken for this year
    if not 2000 <= fy <= 2100:
        raise SystemExit("--fy は 2000〜2100 の年度です / --fy is a fiscal year such as 2026")
    if args.format == "xlsx" and not args.out and sys.stdout.isatty():
        raise SystemExit("xlsx は --out FILE に書きます / give --out FILE for xlsx")
    wire = "json" if args.format == "text" else args.format
    body, missing = fetch(f"/figures?fy={fy}&format={wire}", args.service)
    if args.format == "text":
        document: dict[str, Any] = json.loads(body)
        body = (render_text(document) + "\n").encode("utf-8")
    if args.out:
        try:
            Path(args.out).write_bytes(body)
        except OSError as error:  # a folder that is not there, a file it may not write: said, not a traceback
            raise SystemExit(f"{args.out} に書けません（{error.strerror or error}）/ cannot write {args.out}: "
                             f"{error.strerror or error}") from None
        print(f"{args.out} に書きました / wrote {args.out} ({len(body)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    if missing:
        print(f"応答のないサービス / not answering: {', '.join(missing)}", file=sys.stderr)
    return 1 if missing else 0
