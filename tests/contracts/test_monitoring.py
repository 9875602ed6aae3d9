"""deploy/prometheus/ and deploy/grafana/ against promtool and against what the services really export.

promtool (Debian's `prometheus` package, installed by `.ci/run`) checks the scrape configuration and
the alert rules and runs their unit tests (deploy/prometheus/rules/jusou_test.yml: each alert fired
from synthetic series, and silent when healthy). Without promtool these tests skip, saying so, except
in CI (`JUSOU_REQUIRE_POSTGRES=1`), where they fail. No Prometheus server is started.

The metric names come from a real scrape: one service (meeting: it consumes four sources, so its
durable consumers, tracking and dead-letter series are all there) started as `jusou up` starts it,
on its own nats-server and SQLite store. Every metric an alert rule or a dashboard panel reads must
be one of them, or Prometheus's own `up`: a misspelt name would make an alert that never fires and
a panel that stays empty.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from support.servers import free_port

from jusou.runner import Suite
from shared.messaging.deadletters import STATUS_LABELS
from shared.settings import PORTS

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
KUBERNETES_CONFIG = PROMETHEUS / "prometheus-kubernetes.yml"
RULES = PROMETHEUS / "rules" / "jusou.yml"
RULE_TESTS = PROMETHEUS / "rules" / "jusou_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "jusou.json"
K8S = ROOT / "deploy" / "k8s"
DOC = ROOT / "docs" / "monitoring.md"

SCRAPED = "meeting"
#: Series Prometheus makes itself for each target, beside what the target exports.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
#: What a family of each type is exposed as (prometheus_client's parser names a family without them).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                "group_right", "inf", "nan"}
#: Grafana's variables, replaced by what Grafana would put there before the expression is parsed.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$service": "intake"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    why = "promtool is not installed (Debian: apt-get install prometheus)"
    if os.environ.get("JUSOU_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{why}; CI (JUSOU_REQUIRE_POSTGRES=1) checks the rules with it: .ci/run installs it")
    pytest.skip(why)


def run_promtool(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The sample names a running service's GET /metrics exposes (with the suffixes of each family's type)."""
    service_port = free_port()
    nats_port = free_port()
    while nats_port == service_port:
        nats_port = free_port()
    root = tmp_path_factory.mktemp("monitoring")
    with Suite(root / "data", nats_port=nats_port, ports={SCRAPED: service_port}, services=(SCRAPED,),
               extra_env={"JUSOU_STORE": "sqlite"}) as suite:
        response = httpx.get(f"{suite.url(SCRAPED)}/metrics", timeout=15, trust_env=False)
    assert response.status_code == 200, response.text
    names: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        names.update(f"{family.name}{suffix}" for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    assert "jusou_consumer_pending" in names, sorted(names)  # the scrape read JetStream: not a half-empty page
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: every name that is not a function, keyword or label."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings (label values, label_replace's arguments)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w:.$])[A-Za-z_:][\w:]*", text):
        called = text[match.end():].lstrip().startswith("(")
        if not called and match.group(0).lower() not in PROMQL_WORDS:
            names.add(match.group(0))
    return names


def test_metric_names_are_read_from_promql_as_prometheus_would() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate(jusou_http_request_seconds_bucket{service=~"$service"}'
            '[$__rate_interval]))) > on (source) group_left () max by (source) (label_replace(jusou_store_position '
            'offset 1m, "source", "$1", "service", "(.*)")) or absent(up{job="jusou"}) and bool 1e3')
    assert metric_names(expr) == {"jusou_http_request_seconds_bucket", "jusou_store_position", "up"}


# -- Prometheus --------------------------------------------------------------------------------------

def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_scrape_configuration_and_its_rules() -> None:
    out = run_promtool("check", "config", str(CONFIG))
    assert f"SUCCESS: {len(rules())} rules found" in out, out


def test_promtool_accepts_the_alert_rules() -> None:
    run_promtool("check", "rules", str(RULES))


def test_promtool_unit_tests_fire_each_alert_and_keep_it_silent_when_healthy() -> None:
    run_promtool("test", "rules", str(RULE_TESTS))
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    fired = {check["alertname"] for check in checks if check["exp_alerts"]}
    silent = {check["alertname"] for check in checks if not check["exp_alerts"]}
    alerts = {rule["alert"] for rule in rules()}
    assert fired == alerts, f"never fired in jusou_test.yml: {alerts - fired}"
    # A healthy series beside the failing one, or an evaluation where it must stay silent.
    for test in tests:
        assert len(test["input_series"]) > 1 or any(not c["exp_alerts"] for c in test["alert_rule_test"]), test["name"]
    assert silent, "no test keeps an alert silent"


def test_every_alert_says_what_is_wrong_and_what_to_do_in_japanese_and_english() -> None:
    for rule in rules():
        name, notes = rule["alert"], rule["annotations"]
        assert rule["for"], name
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", notes["summary"]) and " / " in notes["summary"], name
        japanese, english = notes["description"].split("\n")
        for label in STATUS_LABELS.values():  # the English may quote what `jusou deadletters list` prints
            english = english.replace(label.split(" / ")[0], "")
        assert re.search(r"[\u3040-\u30ff]", japanese) and not re.search(r"[\u3040-\u30ff]", english), name
        assert "`jusou " in notes["description"] or "kubectl" in notes["description"], f"{name}: no command to run"
        assert notes["runbook"] == f"docs/monitoring.md#{name.lower()}", name


def test_every_alert_reads_only_series_a_service_exports(exported: set[str]) -> None:
    for rule in rules():
        unknown = metric_names(rule["expr"]) - exported - PROMETHEUS_OWN
        assert not unknown, f"{rule['alert']} reads {sorted(unknown)}, which no service exports"


def test_the_issue_s_alerts_are_there() -> None:
    """Issue 17: consumer lag, dead letters, relay lag, a read model degraded, a missing consumer, a service down."""
    reads = {rule["alert"]: metric_names(rule["expr"]) for rule in rules()}
    for metric in ("jusou_consumer_pending", "jusou_dead_letters_parked", "jusou_relay_lag",
                   "jusou_readmodel_quarantined_total", "jusou_consumer_info_up", "up",
                   "jusou_dead_letters_unreplayed", "jusou_readmodel_lag"):
        assert any(metric in names for names in reads.values()), metric
    absent = next(rule["expr"] for rule in rules() if rule["alert"] == "JusouServiceAbsent")
    assert set(re.findall(r'service="(\w+)"', absent)) == set(PORTS)


def test_the_scrape_configuration_names_each_service_on_its_port() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "jusou" and job["metrics_path"] == "/metrics"
    targets = {static["labels"]["service"]: static["targets"] for static in job["static_configs"]}
    assert targets == {service: [f"127.0.0.1:{port}"] for service, port in PORTS.items()}
    assert config["rule_files"] == ["rules/jusou.yml"]  # never the unit tests' file


def test_the_kubernetes_scrape_configuration_finds_the_pods_of_deploy_k8s() -> None:
    """Debian's promtool has no Kubernetes discovery: this file is checked against prometheus.yml and deploy/k8s/."""
    local, config = yaml.safe_load(CONFIG.read_text()), yaml.safe_load(KUBERNETES_CONFIG.read_text())
    assert config["rule_files"] == local["rule_files"] and config["global"] == local["global"]
    (job,), (local_job,) = config["scrape_configs"], local["scrape_configs"]
    for key in ("job_name", "metrics_path", "honor_labels"):
        assert job[key] == local_job[key], key
    (discovery,) = job["kubernetes_sd_configs"]
    keep = {tuple(step["source_labels"]): step["regex"] for step in job["relabel_configs"] if step.get("action") == "keep"}
    targets = {step["target_label"]: step["source_labels"] for step in job["relabel_configs"] if "target_label" in step}

    def meta(label: str) -> str:
        return "__meta_kubernetes_pod_label_" + re.sub(r"[^\w]", "_", label)

    pods = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                template = doc["spec"]["template"]
                ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
                pods.append((doc["metadata"]["namespace"], template["metadata"]["labels"], ports))
    scraped = set()
    for namespace, labels, ports in pods:
        values = {meta(k): v for k, v in labels.items()}
        kept = namespace in discovery["namespaces"]["names"] and all(
            any(re.fullmatch(regex, values.get(source, "")) for source in sources)
            for sources, regex in keep.items() if sources[0].startswith("__meta_kubernetes_pod_label_"))
        port = keep[("__meta_kubernetes_pod_container_port_name",)]
        if kept and any(re.fullmatch(port, name or "") for name in ports):
            scraped.add(values[targets["service"][0]])
    assert scraped == set(PORTS)  # the six services, not nats or postgres


# -- Grafana -----------------------------------------------------------------------------------------

@cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside
    return found


def expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in panels() for target in panel.get("targets", [])]


def test_the_dashboard_is_grafana_json_over_the_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels():
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            refs = [target["refId"] for target in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), panel["title"]


def test_every_panel_reads_only_series_a_service_exports(exported: set[str]) -> None:
    assert expressions()
    for title, expr in expressions():
        unknown = metric_names(expr) - exported - PROMETHEUS_OWN
        assert not unknown, f"panel {title!r} reads {sorted(unknown)}, which no service exports"
    read = set().union(*(metric_names(expr) for _, expr in expressions()))
    for metric in ("jusou_http_requests_total", "jusou_consumer_pending", "jusou_dead_letters_parked",
                   "jusou_relay_lag", "jusou_readmodel_quarantined_total", "jusou_dead_letters_unreplayed",
                   "jusou_readmodel_position", "jusou_readmodel_lag"):
        assert metric in read, f"no panel shows {metric}"


def test_every_panel_expression_is_promql_promtool_accepts(tmp_path: Path) -> None:
    """Each expression, its Grafana variables filled in, as a recording rule for `promtool check rules`."""
    recorded = []
    for i, (_, expr) in enumerate(expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr.replace('"$1"', ""), f"a Grafana variable this test does not know: {expr}"
        recorded.append({"record": f"panel:{i}", "expr": expr})
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": recorded}]}))
    run_promtool("check", "rules", str(path))


# -- the runbook -------------------------------------------------------------------------------------

def test_the_monitoring_guide_has_a_section_for_each_alert() -> None:
    headings = set(re.findall(r"^### (\w+)", DOC.read_text(), flags=re.MULTILINE))
    assert {rule["alert"] for rule in rules()} <= headings
