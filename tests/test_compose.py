"""The production stack (docker-compose.yml, Dockerfile, deploy/) agrees with the code."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from db.read_model import make_engine
from settings import Settings
from workflows.search_attributes import ALL_KEYS, dev_server_flags

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLOUD_OVERRIDE = ROOT / "deploy" / "compose.temporal-cloud.yml"
CLOUD_ENV_EXAMPLE = ROOT / "deploy" / "temporal-cloud.env.example"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "initdb" / "10-databases.sh"

ONE_SHOTS = {"temporal-schema", "temporal-setup", "tierline-schema"}
LOCAL_TEMPORAL = {"temporal-schema", "temporal", "temporal-setup", "temporal-ui"}
# Official images, each at a pinned version.
MONITORING_IMAGES = {"prometheus": "prom/prometheus", "grafana": "grafana/grafana"}
# Services with a web page, published on loopback: the header comment gives their URLs.
WEB_UIS = ("temporal-ui", "prometheus", "grafana")
APP_SERVICES = ("worker", "api", "tierline-schema")
SETTINGS_NAMES = {
    f"{Settings.model_config.get('env_prefix', '')}{name}".upper() for name in Settings.model_fields
}
# ${NAME}, ${NAME:-default}, ${NAME-default}, and required: ${NAME:?message}, ${NAME?message}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<operator>:?[-?])(?P<word>[^}]*))?\}")
# What a production deployment must set itself: compose refuses to start without them.
REQUIRED = {
    "WEBHOOK_SECRET": "a-secret-of-the-deployment",
    "METRICS_TOKEN": "a-token-prometheus-bears",
}


class ComposeLoader(yaml.SafeLoader):
    """Reads compose override files, whose !reset and !override tags plain YAML lacks."""


def _untagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node) or None  # type: ignore[arg-type]


ComposeLoader.add_constructor("!reset", _untagged)
ComposeLoader.add_constructor("!override", _untagged)


def with_defaults(value: object) -> str:
    """The value compose would use with only the `REQUIRED` variables set in the shell or
    .env."""

    def substitute(match: re.Match[str]) -> str:
        if match["operator"] and match["operator"].endswith("?"):
            assert match["name"] in REQUIRED, (
                f"compose requires {match['name']}: add it to REQUIRED"
            )
            return REQUIRED[match["name"]]
        return match["word"] or ""

    return VARIABLE.sub(substitute, str(value))


def packaged_names() -> set[str]:
    """Top-level modules and packages that `pip install .` puts in the image."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in tool["packages"]["find"]["include"]}
    return packages | set(tool["py-modules"])


def dockerfile_cmd() -> list[str]:
    found = re.findall(r"^CMD\s+(\[.*\])\s*$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert found, "the Dockerfile has no CMD in exec (JSON) form"
    command: list[str] = json.loads(found[-1])
    return command


def assert_runs_packaged_code(argv: list[str]) -> None:
    """`argv` starts code that exists, and that the image ships (or the standard library)."""
    packaged = packaged_names()
    match argv:
        case ["uvicorn", target, *_]:
            module_name, _, attribute = target.partition(":")
            assert module_name.split(".")[0] in packaged
            assert hasattr(importlib.import_module(module_name), attribute), target
        case ["python", "-m", module_name, *_]:
            assert module_name.split(".")[0] in packaged
            spec = importlib.util.find_spec(module_name)
            assert spec is not None and spec.origin is not None, module_name
            assert 'if __name__ == "__main__":' in Path(spec.origin).read_text()
        case ["python", "-c", code]:
            for node in ast.walk(ast.parse(code)):
                names: list[tuple[str, str | None]]
                if isinstance(node, ast.Import):
                    names = [(alias.name, None) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [(node.module, alias.name) for alias in node.names]
                else:
                    continue
                for imported, member in names:
                    top = imported.split(".")[0]
                    assert top in packaged or top in sys.stdlib_module_names, imported
                    module = importlib.import_module(imported)
                    assert member is None or hasattr(module, member), (imported, member)
        case _:
            pytest.fail(f"no check for command {argv}")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def cloud_services() -> dict[str, dict[str, Any]]:
    override = yaml.load(CLOUD_OVERRIDE.read_text(), Loader=ComposeLoader)
    found: dict[str, dict[str, Any]] = override["services"]
    return found


def test_the_stack_has_the_production_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgresql", "temporal", "temporal-ui", "worker", "api"} <= set(services)
    assert ONE_SHOTS <= set(services)


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name in ONE_SHOTS:
            # A one-shot exits when done: compose waits on its exit code, not a probe.
            assert "healthcheck" not in service, name
            assert service["restart"] == "no", name
        else:
            healthcheck = service.get("healthcheck", {})
            assert healthcheck.get("test") and not healthcheck.get("disable"), name


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            expected = (
                "service_completed_successfully" if target in ONE_SHOTS else "service_healthy"
            )
            assert rule["condition"] == expected, f"{name} -> {target}"
    for name in ("worker", "api"):
        assert {"postgresql", "temporal-setup", "tierline-schema"} <= set(
            services[name]["depends_on"]
        )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_names_are_settings_fields(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    environment = services[name]["environment"]
    assert isinstance(environment, dict)
    assert "DATABASE_URL" in environment
    assert set(environment) <= SETTINGS_NAMES


@pytest.mark.parametrize("name", ["worker", "api"])
def test_app_environment_reads_into_settings(
    services: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in SETTINGS_NAMES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in services[name]["environment"].items():
        if value is not None:  # a bare name passes the shell's value through, if any
            monkeypatch.setenv(variable, with_defaults(value))

    settings = Settings(_env_file=None)

    assert settings.effective_temporal_address == "temporal:7233"
    assert not settings.embedded
    assert settings.webhook_secret == REQUIRED["WEBHOOK_SECRET"]
    settings.check_for_production()
    url = make_url(settings.effective_database_url)
    assert (url.host, url.port, url.database) == ("postgresql", 5432, "tierline")
    engine = make_engine(settings.effective_database_url)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.parametrize("name", ["worker", "api"])
def test_the_webhook_secret_is_required_not_defaulted(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    # Left unset, Settings would fall back to `change-me`, which the worker and the API
    # refuse outside the embedded stack: compose says so before starting anything.
    match = VARIABLE.fullmatch(str(services[name]["environment"]["WEBHOOK_SECRET"]))
    assert match is not None and match["name"] == "WEBHOOK_SECRET"
    assert match["operator"] == ":?", "an empty value must be refused too"
    assert "WEBHOOK_SECRET" in match["word"]


def test_read_model_database_and_role_are_created_by_the_init_script(
    services: dict[str, dict[str, Any]],
) -> None:
    owners = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", INIT_SCRIPT.read_text()))
    for name in APP_SERVICES:
        url = make_url(with_defaults(services[name]["environment"]["DATABASE_URL"]))
        assert owners[str(url.database)] == url.username
        assert url.password == with_defaults(
            services["postgresql"]["environment"]["TIERLINE_DB_PASSWORD"]
        )
    for name in ("temporal-schema", "temporal"):
        environment = services[name]["environment"]
        for database in (environment["DBNAME"], environment["VISIBILITY_DBNAME"]):
            assert owners[database] == environment["POSTGRES_USER"]


def test_registered_search_attributes_match_the_code(services: dict[str, dict[str, Any]]) -> None:
    registered = services["temporal-setup"]["environment"]["CASE_SEARCH_ATTRIBUTES"].split()
    assert set(registered) == set(dev_server_flags()[1::2])
    assert {pair.partition("=")[0] for pair in registered} == {key.name for key in ALL_KEYS}


def test_the_app_uses_the_namespace_that_setup_prepares(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["temporal-setup"]["environment"]
    for name in ("worker", "api"):
        environment = services[name]["environment"]
        assert environment["TEMPORAL_NAMESPACE"] == setup["TEMPORAL_NAMESPACE"]
        assert environment["TEMPORAL_ADDRESS"] == setup["TEMPORAL_ADDRESS"] == "temporal:7233"
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_DEFAULT_NAMESPACE"] == setup["TEMPORAL_NAMESPACE"]


def test_commands_run_code_the_image_ships(services: dict[str, dict[str, Any]]) -> None:
    assert_runs_packaged_code(dockerfile_cmd())
    for name in APP_SERVICES:
        assert_runs_packaged_code(services[name]["command"])
        test = services[name].get("healthcheck", {}).get("test", [])
        if test:
            assert test[0] == "CMD"
            assert_runs_packaged_code(test[1:])
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    assert services["api"]["command"][:2] == ["uvicorn", "api.app:app"]


def test_image_installs_runtime_dependencies_only_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "python:3.11-slim" in dockerfile
    installs = re.findall(r"^RUN\s.*\bpip install (.*)$", dockerfile, re.MULTILINE)
    # The package itself, no [dev] extra, at the versions the lock pins.
    assert installs == ["-c requirements.lock ."]
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_dockerignore_admits_exactly_the_packaged_code() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "the build context is an allow-list"
    admitted = {line[1:].rstrip("/").removesuffix(".py") for line in lines if line[0] == "!"}
    assert admitted == packaged_names() | {"pyproject.toml", "requirements.lock"}


def test_mounted_files_exist_and_scripts_parse(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, _target, *options = volume.split(":")
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                # Configuration from the repository: no container writes into the checkout.
                assert options == ["ro"], f"{name} mounts {source} writable"
    scripts = sorted((ROOT / "deploy").rglob("*.sh"))
    assert scripts
    for script in scripts:
        shell = "bash" if "bash" in script.read_text().splitlines()[0] else "sh"
        result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_monitoring_runs_pinned_official_images_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, repository in MONITORING_IMAGES.items():
        service = services[name]
        image, _, tag = with_defaults(service["image"]).partition(":")
        assert image == repository, name
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin a release, not {tag!r}"
        assert service["restart"] == "unless-stopped", name
        # Named volumes keep the metrics history and Grafana's users across `up`s.
        assert any(not volume.startswith("./") for volume in service["volumes"]), name
    for name in WEB_UIS:
        for port in services[name]["ports"]:
            assert with_defaults(port).startswith("127.0.0.1:"), f"{name} published beyond loopback"
    grafana = services["grafana"]["environment"]
    match = VARIABLE.fullmatch(grafana["GF_SECURITY_ADMIN_PASSWORD"])
    assert match is not None and match["name"] == "GRAFANA_ADMIN_PASSWORD"
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_metrics_listen_where_prometheus_reaches_them(services: dict[str, dict[str, Any]]) -> None:
    # Prometheus scrapes from its own container; the worker's and the mail gateway's metrics
    # ports stay unpublished.
    for name, variable in (
        ("worker", "WORKER_METRICS_HOST"),
        ("mail-gateway", "MAIL_METRICS_HOST"),
    ):
        environment = services[name]["environment"]
        assert environment[variable] == "0.0.0.0", name
        assert set(environment) <= SETTINGS_NAMES, name
    assert "ports" not in services["worker"]
    assert [with_defaults(port) for port in services["mail-gateway"]["ports"]] == ["2525:2525"]
    api = services["api"]["command"]
    assert api[api.index("--host") + 1] == "0.0.0.0"


def test_the_header_comment_names_the_passwords_and_the_pages() -> None:
    text = COMPOSE_FILE.read_text()
    header = text[: text.index("\nname:")]
    for match in VARIABLE.finditer(text):
        if match["name"].endswith("PASSWORD"):
            assert match["name"] in header, f"the header does not say to set {match['name']}"
    compose = yaml.safe_load(text)
    for name in WEB_UIS:
        for port in compose["services"][name]["ports"]:
            published = with_defaults(port).split(":")[1]
            assert f"http://127.0.0.1:{published}" in header, name


def test_cloud_override_runs_the_app_without_the_local_cluster(
    services: dict[str, dict[str, Any]], cloud_services: dict[str, dict[str, Any]]
) -> None:
    for name in LOCAL_TEMPORAL:
        assert cloud_services[name]["profiles"], name
    for name in ("worker", "api"):
        override = cloud_services[name]
        assert not set(override["depends_on"]) & LOCAL_TEMPORAL
        assert set(override["depends_on"]) <= set(services)
        assert set(override["environment"]) <= SETTINGS_NAMES
    example = CLOUD_ENV_EXAMPLE.read_text()
    names = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"} <= names
    assert {"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"} <= names
    assert names <= SETTINGS_NAMES


@pytest.mark.parametrize(
    ("files", "environment"),
    [
        (["docker-compose.yml"], {}),
        (
            ["docker-compose.yml", "deploy/compose.temporal-cloud.yml"],
            {"TEMPORAL_CLOUD_ENV_FILE": "./deploy/temporal-cloud.env.example"},
        ),
    ],
    ids=["local", "temporal-cloud"],
)
def test_docker_compose_accepts_the_files(files: list[str], environment: dict[str, str]) -> None:
    result = docker_compose_config(files, {**REQUIRED, **environment})
    assert result.returncode == 0, result.stderr
    for name in REQUIRED:
        refused = docker_compose_config(files, environment, without=name)
        assert refused.returncode != 0
        assert f"set {name}" in refused.stderr


def docker_compose_config(
    files: list[str], environment: dict[str, str], without: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker compose config -q` over these files (skips the test without docker compose)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker CLI has no compose plugin")
    arguments = [argument for file in files for argument in ("-f", file)]
    return subprocess.run(
        [docker, "compose", *arguments, "config", "-q"],
        cwd=ROOT,
        env={key: value for key, value in {**os.environ, **environment}.items() if key != without},
        capture_output=True,
        text=True,
        timeout=60,
    )
