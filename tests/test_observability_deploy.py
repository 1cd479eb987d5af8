"""The monitoring in deploy/ (Prometheus's scrape config and alert rules, Grafana's data
source and Tierline dashboard) asks for metrics that exist and agrees with
docker-compose.yml.

A metric a query names must be declared in `observability.catalog`, be served by the
API's /metrics (prometheus-fastapi-instrumentator's request metrics, the process's), be
Prometheus's own `up`, or be one of the Temporal SDK's `temporal_*` metrics that a real
worker serves: the test runs a case through a worker whose runtime serves Prometheus
metrics, takes its Temporal server away (as an alert rule watches for), and reads the
names from that worker's /metrics.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from models.case import CaseRouting
from models.clocks import ClockName
from models.commands import RespondPublicly
from observability.catalog import TIERLINE_METRICS, WORKER_BUCKETS
from settings import Settings
from tests.builders import AGENT, open_case
from tests.conftest import VENV_BIN, Inbox, free_port, register_search_attributes, running
from tests.workflows.case_harness import clock, skip_to, start, terminate_started, view_when
from worker import build_worker
from workflows.case import execute_command

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "tierline.yml"
DASHBOARD = GRAFANA / "dashboards" / "tierline.json"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# The labels Prometheus gives every series it scrapes.
TARGET_LABELS = frozenset({"job", "instance"})
# What the Temporal SDK's meter adds to a metric recorded in a workflow or an activity.
SDK_LABELS = frozenset(
    {"namespace", "service_name", "task_queue", "workflow_type", "activity_type"}
)
SEVERITIES = {"critical", "warning"}
# Grafana's variables, as a query would read with them filled in (for promtool).
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1d"}
# short-sla:fast gives a critical case 10 minutes to its first response.
PAST_FIRST_RESPONSE = timedelta(minutes=11)
SCRAPE_WAIT_SECONDS = 60.0


# --- PromQL, just enough to find the metrics and labels a query names -----------------

AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"}
    | {"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)
FUNCTIONS = frozenset(
    {"abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max"}
    | {"clamp_min", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta"}
    | {"deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg"}
    | {"histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev"}
    | {"histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase"}
    | {"info", "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute"}
    | {"month", "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort"}
    | {"sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "time", "timestamp"}
    | {"vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time"}
    | {"count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time"}
    | {"last_over_time", "present_over_time", "mad_over_time", "acos", "acosh", "asin"}
    | {"asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad"}
    | {"pi", "start", "end"}  # start() and end() follow the @ modifier
)
# Keywords that take a list of label names in parentheses.
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = GROUPING | {"offset", "bool", "and", "or", "unless", "atan2", "inf", "nan"}

_STRING = r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`'
TOKEN = re.compile(
    rf"""
    (?P<space>\s+)
    | (?P<string>{_STRING})
    | (?P<matchers>\{{(?:{_STRING}|[^{{}}"'`])*\}})
    | (?P<range>\[[^\]]*\])
    | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)
    | (?P<variable>\$\{{?\w+\}}?)
    | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<operator>[-+*/%^=!<>,@]+)
    """,
    re.VERBOSE,
)
MATCHER = re.compile(rf"\s*([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*(?:{_STRING})\s*,?")


@dataclass(frozen=True)
class Selector:
    """A metric a query reads, with the labels its matchers name."""

    name: str
    labels: frozenset[str] = frozenset()


@dataclass
class Query:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # labels named in by (...), on (...)...


def tokens(expr: str) -> list[tuple[str, str]]:
    found = []
    position = 0
    while position < len(expr):
        match = TOKEN.match(expr, position)
        assert match is not None and match.lastgroup is not None, (
            f"cannot read {expr[position:]!r} in {expr!r}"
        )
        if match.lastgroup != "space":
            found.append((match.lastgroup, match.group()))
        position = match.end()
    return found


def matcher_labels(matchers: str) -> frozenset[str]:
    body = matchers[1:-1]
    names = []
    position = 0
    while body[position:].strip():
        match = MATCHER.match(body, position)
        assert match is not None, f"cannot read the matchers {matchers!r}"
        names.append(match.group(1))
        position = match.end()
    return frozenset(names)


def parse_query(expr: str) -> Query:
    """The metrics a PromQL expression reads: every name that is not a function, an
    aggregation, a keyword or a label in a grouping clause; label matchers, strings,
    ranges and numbers are skipped."""
    query = Query()
    found = tokens(expr)
    index = 0
    while index < len(found):
        kind, text = found[index]
        following = found[index + 1] if index + 1 < len(found) else ("", "")
        index += 1
        if kind != "name":
            continue
        word = text.lower()
        if word in GROUPING and following[0] == "open":
            index += 1
            while found[index][0] != "close":
                if found[index][0] == "name":
                    query.grouping.add(found[index][1])
                index += 1
        elif word in KEYWORDS:
            continue
        elif word in AGGREGATIONS and following[1].lower() in {"by", "without"}:
            continue  # sum by (le) (...)
        elif following[0] == "open":
            assert word in FUNCTIONS | AGGREGATIONS, f"unknown PromQL function {text} in {expr!r}"
        elif following[0] == "matchers":
            query.selectors.append(Selector(text, matcher_labels(following[1])))
            index += 1
        else:
            query.selectors.append(Selector(text))
    return query


def test_the_tokenizer_finds_metrics_and_labels_only() -> None:
    query = parse_query(
        "histogram_quantile(0.99, sum by (le, clock) "
        '(rate(a_bucket{clock="x}", job=~"y|z"}[$__rate_interval] offset 1h)))'
        " > bool 5e0 and on (instance) group_left (tier) b"
        ' unless absent(c{d=""}) or 60 * SUM WITHOUT(instance)(rate(d_total[5m]))'
    )
    assert query.selectors == [
        Selector("a_bucket", frozenset({"clock", "job"})),
        Selector("b"),
        Selector("c", frozenset({"d"})),
        Selector("d_total"),
    ]
    assert query.grouping == {"le", "clock", "instance", "tier"}
    with pytest.raises(AssertionError, match="unknown PromQL function"):
        parse_query("histogram_quantil(0.5, a)")


# --- the files ------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def alert_rules() -> Iterator[dict[str, Any]]:
    for group in load_yaml(ALERT_RULES)["groups"]:
        yield from group["rules"]


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query in the dashboard and the alert rules."""
    for panel in panels(json.loads(DASHBOARD.read_text())):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} query {target['refId']}", target["expr"]
    for rule in alert_rules():
        yield f"alert {rule['alert']}", rule["expr"]


def catalog_series() -> dict[str, frozenset[str]]:
    """Every series name `observability.catalog` declares, with the labels it may carry."""
    series = {}
    for metric in TIERLINE_METRICS:
        labels = frozenset(metric.labels) | TARGET_LABELS
        if metric.where == "worker":
            labels |= SDK_LABELS
        if metric.kind == "histogram":
            series[f"{metric.name}_bucket"] = labels | {"le"}
            series[f"{metric.name}_sum"] = labels
            series[f"{metric.name}_count"] = labels
        else:
            series[metric.name] = labels
        if metric.kind == "counter" and metric.where != "worker":
            # prometheus-client also exposes when each counter was created.
            series[f"{metric.name.removesuffix('_total')}_created"] = labels
    return series


def exposed_series(text: str) -> dict[str, frozenset[str]]:
    """Series names in a Prometheus text exposition, as Prometheus stores them, each with
    the label names it carries (not counting Prometheus's own job and instance).

    The names are the sample lines': prometheus_client's parser reports a counter exposed
    without `_total` (as the Temporal SDK exposes its own, e.g. temporal_sticky_cache_hit)
    under a name with `_total` added, a name Prometheus would not have."""
    sampled = {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    }
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name if sample.name in sampled else sample.name.removesuffix("_total")
            assert name in sampled, sample.name
            series.setdefault(name, set()).update(sample.labels)
    assert series.keys() == sampled
    return {name: frozenset(labels) for name, labels in series.items()}


# --- what real processes expose -------------------------------------------------------


async def scrape_until(url: str, wanted: set[str]) -> dict[str, frozenset[str]]:
    """The series at `url` once all of `wanted` are among them, or after
    SCRAPE_WAIT_SECONDS (the test then names what is missing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SCRAPE_WAIT_SECONDS
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            response = await http.get(url)
            response.raise_for_status()
            series = exposed_series(response.text)
            if wanted <= series.keys() or loop.time() > deadline:
                return series
            await asyncio.sleep(0.2)


@pytest.fixture
async def worker_series(
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    smtp_inbox: tuple[Inbox, int],
) -> dict[str, frozenset[str]]:
    """What a real worker serves on its metrics port once a case has been opened, warned,
    breached and answered through it (with notices mailed), and once its Temporal server is
    gone. A time-skipping server of its own, since the test takes it away."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    server_running = True
    try:
        await register_search_attributes(env.client)
        port = free_port()
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=f"127.0.0.1:{port}",
                    durations_as_seconds=True,
                    histogram_bucket_overrides={
                        name: list(buckets) for name, buckets in WORKER_BUCKETS.items()
                    },
                )
            )
        )
        client = await Client.connect(
            env.client.service_client.config.target_host,
            namespace=env.client.namespace,
            data_converter=pydantic_data_converter,
            runtime=runtime,
        )
        settings = Settings(smtp_port=smtp_inbox[1])
        worker = build_worker(client, sqlite_engine, task_queue, activity_executor, settings)
        url = f"http://127.0.0.1:{port}/metrics"
        async with running(worker):
            now = await env.get_current_time()
            routing = CaseRouting(
                customer_emails=("ann@acme.example",),
                escalation_contacts={1: "lead@vendor.example"},
            )
            command = open_case(1, "short-sla:fast", now, routing=routing, severity="critical")
            handle = await start(env.client, command, task_queue)
            await skip_to(env, now + PAST_FIRST_RESPONSE)
            await view_when(handle, lambda view: clock(view, ClockName.first_response).breached)
            await execute_command(handle, RespondPublicly(actor=AGENT, message="On it."))
            # Notices are the last thing the case does: an activity that mails them.
            await scrape_until(url, {"tierline_notifications_total"})
            await terminate_started()
            await env.shutdown()
            server_running = False
            # What a worker shows when it cannot reach Temporal (TierlineWorkerCannotPoll).
            return await scrape_until(url, {"temporal_long_request_failure"})
    finally:
        if server_running:
            await env.shutdown()


@pytest.fixture
async def api_series(sqlite_engine: Engine) -> dict[str, frozenset[str]]:
    """What the API serves on /metrics once it has answered a request: the request
    metrics of prometheus-fastapi-instrumentator, the process's, and the read model's."""
    app = create_app(Settings(metrics_token=None))
    app.state.engine = sqlite_engine  # as its lifespan would; /metrics needs no more
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        await http.get("/cases/1")  # refused without a session, and counted
        response = await http.get("/metrics")
        response.raise_for_status()
    return exposed_series(response.text)


def test_the_processes_serve_the_catalog_metrics_under_their_names(
    worker_series: dict[str, frozenset[str]], api_series: dict[str, frozenset[str]]
) -> None:
    declared = catalog_series()
    served = {
        name: labels
        for name, labels in {**worker_series, **api_series}.items()
        if name.startswith("tierline_")
    }
    # What the case above records, at the least (opened, warned, breached late, answered,
    # projected, notified), and what the API reads from the read model whatever it holds.
    assert {
        "tierline_sla_breaches_today",
        "tierline_projection_failing_cases",
        "tierline_cases_opened_total",
        "tierline_sla_warnings_total",
        "tierline_sla_breaches_total",
        "tierline_sla_breach_lateness_seconds_bucket",
        "tierline_first_response_business_seconds_bucket",
        "tierline_first_responses_total",
        "tierline_projection_lag_seconds_bucket",
        "tierline_notifications_total",
    } <= served.keys()
    for name, labels in served.items():
        assert name in declared, f"{name} is served but not declared in the catalog"
        # Every declared label is there, and nothing a client could choose is added.
        assert labels - SDK_LABELS == declared[name] - SDK_LABELS - TARGET_LABELS, name


def test_every_query_reads_metrics_that_exist(
    worker_series: dict[str, frozenset[str]],
    api_series: dict[str, frozenset[str]],
) -> None:
    temporal = {n: labels for n, labels in worker_series.items() if n.startswith("temporal_")}
    known = {
        **{name: labels | TARGET_LABELS for name, labels in api_series.items()},
        **catalog_series(),
        **{name: labels | TARGET_LABELS for name, labels in temporal.items()},
        "up": TARGET_LABELS,
    }
    problems = []
    for where, expr in queries():
        query = parse_query(expr)
        if not query.selectors:
            problems.append(f"{where}: reads no metric")
        available = set(TARGET_LABELS)
        for selector in query.selectors:
            if selector.name not in known:
                source = (
                    "a real worker does not serve it"
                    if selector.name.startswith("temporal_")
                    else "neither in observability.catalog nor served by the API"
                )
                problems.append(f"{where}: no metric {selector.name} ({source})")
                continue
            available |= known[selector.name]
            if unknown := selector.labels - known[selector.name]:
                problems.append(f"{where}: {selector.name} has no label {sorted(unknown)}")
        if ungrouped := query.grouping - available:
            problems.append(f"{where}: groups by {sorted(ungrouped)}, which no metric of it has")
    assert not problems, "\n".join(problems)


# --- the files are well-formed and agree with each other and with compose -------------


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load_yaml(COMPOSE_FILE)["services"]
    return found


def mounted_from(service: dict[str, Any], container_path: str) -> Path | None:
    """The file in this repository that a service sees at `container_path` (bind mounts
    of ./ paths), or None."""
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./") and (
            container_path == target or container_path.startswith(target.rstrip("/") + "/")
        ):
            return ROOT / source / container_path[len(target) :].lstrip("/")
    return None


def provisioned_datasource() -> dict[str, Any]:
    datasources = load_yaml(DATASOURCES)["datasources"]
    assert len(datasources) == 1
    datasource: dict[str, Any] = datasources[0]
    return datasource


def test_dashboard_panels_query_the_provisioned_datasource() -> None:
    datasource = provisioned_datasource()
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    titles = {panel["title"] for panel in panels(dashboard) if panel["type"] != "row"}
    for panel in panels(dashboard):
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            assert "targets" not in panel
            continue
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        references = [target["refId"] for target in panel["targets"]]
        assert len(references) == len(set(references)), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", expected) == expected, panel["title"]
            assert target["expr"].strip(), panel["title"]
    assert len(titles) == sum(1 for p in panels(dashboard) if p["type"] != "row")


def test_every_alert_rule_says_what_it_is() -> None:
    groups = load_yaml(ALERT_RULES)["groups"]
    assert len({group["name"] for group in groups}) == len(groups)
    names = []
    for rule in alert_rules():
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule
        names.append(rule["alert"])
        assert re.fullmatch(r"(\d+[smhd])+", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]
    assert names and len(names) == len(set(names)), "alert names repeat"


def test_prometheus_scrapes_every_replica_of_the_compose_services(
    services: dict[str, dict[str, Any]],
) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    assert config["global"]["scrape_interval"] == "15s"
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS_CONFIG.parent / rule_file).is_file(), rule_file
    assert ALERT_RULES.name in config["rule_files"]
    # No Alertmanager in the stack: alerts are seen on Prometheus's Alerts page.
    assert "alerting" not in config
    api_command = services["api"]["command"]
    ports = {
        "api": int(api_command[api_command.index("--port") + 1]),
        "worker": int(
            services["worker"]["environment"].get(
                "WORKER_METRICS_PORT", Settings.model_fields["worker_metrics_port"].default
            )
        ),
        "mail-gateway": int(
            services["mail-gateway"]["environment"].get(
                "MAIL_METRICS_PORT", Settings.model_fields["mail_metrics_port"].default
            )
        ),
    }
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = {"tierline-api": "api", "tierline-worker": "worker", "tierline-mail": "mail-gateway"}
    assert jobs.keys() == expected.keys()
    for job_name, service in expected.items():
        job = jobs[job_name]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [target for c in job.get("static_configs", []) for target in c["targets"]]
        for lookup in job.get("dns_sd_configs", []):
            assert lookup["type"] == "A"
            targets += [f"{name}:{lookup['port']}" for name in lookup["names"]]
        assert targets == [f"{service}:{ports[service]}"], job_name
    # Each replica of a scalable service, found through compose's DNS.
    for job_name in ("tierline-api", "tierline-worker"):
        assert jobs[job_name]["dns_sd_configs"], job_name


def test_compose_mounts_the_monitoring_configuration(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    assert mounted_from(prometheus, config_flag.partition("=")[2]) == PROMETHEUS_CONFIG
    grafana = services["grafana"]
    provisioning = mounted_from(grafana, "/etc/grafana/provisioning")
    assert provisioning == GRAFANA / "provisioning"
    assert (provisioning / "datasources").is_dir() and (provisioning / "dashboards").is_dir()
    for provider in load_yaml(DASHBOARD_PROVIDERS)["providers"]:
        assert mounted_from(grafana, provider["options"]["path"]) == DASHBOARD.parent
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted_from(grafana, home) == DASHBOARD
    for service in (prometheus, grafana):
        for volume in service["volumes"]:
            source, _target, *options = volume.split(":")
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
                assert options == ["ro"], volume


def test_grafana_reads_the_compose_prometheus(services: dict[str, dict[str, Any]]) -> None:
    datasource = provisioned_datasource()
    assert datasource["type"] == "prometheus"
    container_port = services["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert datasource["url"] == f"http://prometheus:{container_port}"
    # $__rate_interval spans at least four scrapes only if Grafana knows the interval.
    scrape_interval = load_yaml(PROMETHEUS_CONFIG)["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape_interval


# --- promtool, where Debian's prometheus package is installed -------------------------


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def run_promtool(*arguments: str) -> None:
    result = subprocess.run(
        [promtool(), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_config_the_rules_and_the_dashboard_queries(tmp_path: Path) -> None:
    # As the prometheus service runs it: the config beside its rules, and the token file
    # its entrypoint writes where the API job reads it.
    token = tmp_path / "metrics-token"
    token.write_text("a-token")
    config = PROMETHEUS_CONFIG.read_text()
    assert "/prometheus/metrics-token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/prometheus/metrics-token", str(token))
    )
    shutil.copy(ALERT_RULES, tmp_path / ALERT_RULES.name)
    run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    run_promtool("check", "rules", str(ALERT_RULES))
    # The dashboard's queries, as recording rules: promtool parses each one.
    recorded = []
    for index, (_, expr) in enumerate(queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        recorded.append({"record": f"dashboard:query_{index}", "expr": expr})
    rules = tmp_path / "dashboard.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    run_promtool("check", "rules", str(rules))


def test_the_alerts_fire_when_they_should(tmp_path: Path) -> None:
    """promtool's rule unit tests on made-up series: each alert fires on what it watches,
    with its labels, and not before its `for`."""
    worker = {"job": "tierline-worker", "instance": "10.0.0.7:9464"}

    def series(name: str, values: str, **labels: str) -> dict[str, str]:
        matchers = ", ".join(f'{key}="{value}"' for key, value in labels.items())
        return {"series": f"{name}{{{matchers}}}", "values": values}

    late = "tierline_sla_breach_lateness_seconds_bucket"
    tests = [
        {
            "interval": "1m",
            "input_series": [
                # One worker that stops answering at minute 10.
                series("up", "1x9 0x20", **worker),
                # A breach recorded 20 to 30 s late every minute.
                *(
                    series(late, f"0+{0 if float(le) <= 10 else 1}x30", le=le, clock="resolution")
                    for le in ("5", "10", "30", "+Inf")
                ),
                series("tierline_notifications_total", "0+2x30", channel="email", outcome="failed"),
                series("tierline_projection_failures_total", "0+1x30", **worker),
                series(
                    "tierline_projection_failing_cases",
                    "0x4 3x25",
                    job="tierline-api",
                    instance="10.0.0.8:8000",
                ),
                series(
                    "temporal_long_request_failure",
                    "0x9 0+10x20",
                    operation="PollWorkflowTaskQueue",
                    status_code="TRANSPORT_ERROR",
                    **worker,
                ),
                series("up", "1x30", job="tierline-api", instance="10.0.0.8:8000"),
            ],
            "alert_rule_test": [
                {"eval_time": "11m", "alertname": "TierlineWorkerDown", "exp_alerts": []},
                {
                    "eval_time": "13m",
                    "alertname": "TierlineWorkerDown",
                    "exp_alerts": [{"exp_labels": {"severity": "warning", **worker}}],
                },
                {
                    "eval_time": "13m",
                    "alertname": "TierlineNoWorker",
                    # absent() of a comparison has no labels to keep.
                    "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
                },
                {
                    "eval_time": "25m",
                    "alertname": "TierlineBreachesRecordedLate",
                    "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
                },
                {
                    "eval_time": "25m",
                    "alertname": "TierlineNotificationsFailing",
                    "exp_alerts": [{"exp_labels": {"severity": "warning", "channel": "email"}}],
                },
                {
                    "eval_time": "25m",
                    "alertname": "TierlineProjectionFailing",
                    "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "tierline-api"}}],
                },
                {
                    "eval_time": "20m",
                    "alertname": "TierlineWorkerCannotPoll",
                    "exp_alerts": [
                        {"exp_labels": {"severity": "critical", "instance": worker["instance"]}}
                    ],
                },
                {
                    "eval_time": "25m",
                    "alertname": "TierlineProjectionWritesFailing",
                    "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
                },
                {"eval_time": "25m", "alertname": "TierlineNoApi", "exp_alerts": []},
            ],
        }
    ]
    # Without their annotations, which promtool would otherwise compare word for word
    # (`promtool check rules` above parses their templates).
    groups = load_yaml(ALERT_RULES)["groups"]
    for rule in (rule for group in groups for rule in group["rules"]):
        del rule["annotations"]
    (tmp_path / ALERT_RULES.name).write_text(yaml.safe_dump({"groups": groups}))
    unit_tests = tmp_path / "alerts.test.yml"
    unit_tests.write_text(
        yaml.safe_dump(
            {"rule_files": [ALERT_RULES.name], "evaluation_interval": "1m", "tests": tests}
        )
    )
    run_promtool("test", "rules", str(unit_tests))
