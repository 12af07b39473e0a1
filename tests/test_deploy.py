"""deploy/ validated without Docker: compose config, Kubernetes schemas, hadolint, and facts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from activities.ledger.postgres import PostgresLedger
from slawatch import telemetry
from slawatch.settings import Settings
from slawatch.tools.process import stop_process
from slawatch.tools.standins.tools import free_port
from tests.deploy_tools import DEPLOY, ROOT, run, tool
from tests.postgres_fixtures import ADMIN, PostgresServer, pg_bindir
from workflows.search import DEFINITIONS

COMPOSE = DEPLOY / "compose" / "docker-compose.yaml"
K8S = sorted((DEPLOY / "kubernetes").rglob("*.yaml"))
SETUP_SCRIPT = DEPLOY / "compose" / "scripts" / "setup-temporal.sh"
LEDGER_SCRIPT = DEPLOY / "compose" / "scripts" / "setup-ledger.sh"
# A secret URL in compose: only its password is interpolated, from a required variable.
SECRET_URL = re.compile(r"postgresql://\w+:\$\{(\w+):\?[^}]+\}@[\w.-]+:\d+/\w+")
K8S_VERSIONS = ("1.31.0", "1.34.0")  # a common managed-cluster version and a recent one
FIELDS = {f"SLAWATCH_{name.upper()}" for name in Settings.model_fields}
SECRET_FIELDS = {
    f"SLAWATCH_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation)
}
COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "LEDGER_POSTGRES_PASSWORD": "ledger-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
    "SLAWATCH_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "SLAWATCH_TWILIO_AUTH_TOKEN": "twilio-secret",
    "SLAWATCH_TWILIO_FROM_NUMBER": "+15005550006",
    "SLAWATCH_SENDGRID_API_KEY": "SG.secret",
    "SLAWATCH_EMAIL_FROM": "sla@example.com",
    "SLAWATCH_PUBLIC_BASE_URL": "https://sla.example.com",
    "SLAWATCH_API_TOKENS": "intake=*",
}


def compose_config(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # An explicit env file and a bare environment: a developer's real .env never leaks in.
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    bare = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    compose = tool("docker-compose")
    return run(compose, "-f", str(COMPOSE), "--env-file", str(env_file), "config", env=bare)


def manifests() -> Iterator[dict[str, Any]]:
    for path in K8S:
        yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def test_compose_config_renders_the_stack(tmp_path: Path) -> None:
    result = compose_config(tmp_path, COMPOSE_ENV)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) >= {"postgresql", "temporal-schema", "temporal", "temporal-setup"}
    assert services["slawatch-worker"]["command"] == ["worker"]
    assert services["slawatch-api"]["command"] == ["api"]
    # Schema tools must match the server they set up.
    tag = services["temporal"]["image"].split(":")[1]
    assert services["temporal-schema"]["image"] == f"temporalio/admin-tools:{tag}"
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    for name in ("slawatch-worker", "slawatch-api"):
        env = services[name]["environment"]
        assert set(env) - FIELDS == set(), f"{name} sets unknown settings"
        assert env["SLAWATCH_TWILIO_AUTH_TOKEN"] == "twilio-secret"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    # Every worker replica shares the send ledger, in a database the setup job made first.
    worker = services["slawatch-worker"]
    ledger = "postgresql://slawatch:ledger-secret@postgresql:5432/slawatch_ledger"
    assert worker["environment"]["SLAWATCH_LEDGER_URL"] == ledger
    assert Settings(ledger_url=ledger).ledger_url is not None
    assert worker["depends_on"]["ledger-setup"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    setup = services["ledger-setup"]
    assert setup["environment"]["LEDGER_PASSWORD"] == "ledger-secret"
    assert (setup["environment"]["LEDGER_USER"], setup["environment"]["LEDGER_DB"]) == (
        "slawatch",
        "slawatch_ledger",
    )
    assert setup["image"] == services["postgresql"]["image"]


def test_compose_secrets_are_interpolated_never_literal() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())  # merges the `<<: *slawatch-env` blocks
    for service in ("slawatch-worker", "slawatch-api"):
        env = raw["services"][service]["environment"]
        secrets = SECRET_FIELDS & set(env)
        assert "SLAWATCH_TWILIO_AUTH_TOKEN" in secrets
        for name in secrets:
            url = SECRET_URL.fullmatch(env[name])
            assert url or re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name]), f"{service}: {name}"
    assert "SLAWATCH_LEDGER_URL" in raw["services"]["slawatch-worker"]["environment"]


@pytest.mark.parametrize(
    "missing", ["SLAWATCH_TWILIO_AUTH_TOKEN", "POSTGRES_PASSWORD", "LEDGER_POSTGRES_PASSWORD"]
)
def test_compose_refuses_to_render_without_a_secret(tmp_path: Path, missing: str) -> None:
    result = compose_config(tmp_path, {k: v for k, v in COMPOSE_ENV.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_pass_strict_schema_validation(version: str) -> None:
    # Bundled schemas: no network; --strict rejects misspelled fields.
    result = run(tool("kubernetes-validate"), "--strict", "-k", version, *map(str, K8S))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == sum(1 for _ in manifests())


def test_schema_validation_catches_a_misspelled_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (DEPLOY / "kubernetes" / "worker.yaml").read_text().replace("minReplicas:", "minReplica:")
    )
    result = run(tool("kubernetes-validate"), "--strict", "-k", K8S_VERSIONS[0], str(bad))
    assert result.returncode != 0
    assert "minReplica" in result.stdout + result.stderr


def test_manifests_set_only_real_settings_and_take_secrets_from_secrets() -> None:
    seen: set[str] = set()
    for doc in manifests():
        assert doc["kind"] != "Secret", "secret values belong in the cluster, not in git"
        if doc["kind"] == "ConfigMap":
            keys = {k for k in doc.get("data", {}) if k.startswith("SLAWATCH_")}
            assert keys <= FIELDS, keys - FIELDS
            assert not keys & SECRET_FIELDS, keys & SECRET_FIELDS
            seen |= keys
        for container in containers(doc):
            for var in container.get("env", []):
                if not var["name"].startswith("SLAWATCH_"):
                    continue
                assert var["name"] in FIELDS, var["name"]
                seen.add(var["name"])
                if var["name"] in SECRET_FIELDS:
                    assert "value" not in var, f"{var['name']} is a literal"
                    assert "secretKeyRef" in var["valueFrom"], var["name"]
    # The secrets the worker and API need are all wired.
    assert {"SLAWATCH_TWILIO_AUTH_TOKEN", "SLAWATCH_SENDGRID_API_KEY"} <= seen
    assert {"SLAWATCH_API_TOKENS", "SLAWATCH_TEMPORAL_API_KEY", "SLAWATCH_LEDGER_URL"} <= seen


def test_worker_pods_share_a_required_ledger_secret() -> None:
    [worker] = [d for d in manifests() if d["kind"] == "Deployment" and "worker" in str(d)]
    [container] = containers(worker)
    [ledger] = [v for v in container["env"] if v["name"] == "SLAWATCH_LEDGER_URL"]
    # Not optional: a pod without it would fall back to a ledger of its own.
    assert ledger["valueFrom"]["secretKeyRef"] == {"name": "slawatch-ledger", "key": "url"}


def test_pods_run_as_non_root_with_probes() -> None:
    workloads = [d for d in manifests() if d["kind"] in {"Deployment", "Job"}]
    assert {d["metadata"]["name"] for d in workloads} >= {"slawatch-worker", "slawatch-api"}
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        for container in containers(doc):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            if doc["kind"] == "Deployment":
                assert "livenessProbe" in container, doc["metadata"]["name"]


def test_setup_job_runs_the_compose_script_verbatim() -> None:
    scripts = [d for d in manifests() if d["metadata"]["name"] == "slawatch-temporal-setup-script"]
    assert scripts and scripts[0]["data"]["setup-temporal.sh"] == SETUP_SCRIPT.read_text()


def test_ledger_setup_script_makes_a_role_and_database_only_the_ledger_uses(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Against the tests' real PostgreSQL: create, run again (idempotent), rotate the password."""
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": f"{pg_bindir()}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
        "PGUSER": ADMIN,
        "PGPASSWORD": postgres.password,
        "LEDGER_USER": name,
        "LEDGER_DB": name,
        "LEDGER_PASSWORD": "first-secret",
    }
    try:
        first = run("sh", str(LEDGER_SCRIPT), env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        ledger = PostgresLedger(postgres.url(name, name, "first-secret"))
        assert ledger.begin("k", "sms") is None
        ledger.close()
        again = run("sh", str(LEDGER_SCRIPT), env={**env, "LEDGER_PASSWORD": "second-secret"})
        assert again.returncode == 0, again.stdout + again.stderr
        assert "first-secret" not in again.stdout + again.stderr
        with pytest.raises(RuntimeError, match="password authentication failed"):
            PostgresLedger(postgres.url(name, name, "first-secret"))
        rotated = PostgresLedger(postgres.url(name, name, "second-secret"))
        assert rotated.state("k") == ("sending", 1)  # the ledger's rows survive a rotation
        rotated.close()
        with postgres.admin() as db:  # another role may not even connect to the ledger
            db.execute(f"CREATE ROLE {name}_other LOGIN PASSWORD 'other'")
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(postgres.url(name, f"{name}_other", "other")).close()
    finally:
        postgres.drop_database(name)
        with postgres.admin() as db:
            db.execute(f"DROP ROLE IF EXISTS {name}_other")
            db.execute(f"DROP ROLE IF EXISTS {name}")


def test_hadolint_passes_and_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    result = run(tool("hadolint"), "deploy/Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /tmp && pip install requests\n")
    assert run(tool("hadolint"), str(bad)).returncode != 0


def test_dockerfile_final_stage_is_non_root_with_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    final = re.split(r"^FROM ", text, flags=re.MULTILINE)[-1]
    users = re.findall(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert users, "final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*CMD", final, flags=re.MULTILINE | re.DOTALL)
    assert re.search(r'^ENTRYPOINT \["slawatch"\]', final, flags=re.MULTILINE)
    env_names = set(re.findall(r"\b(SLAWATCH_\w+)=", text))
    assert env_names and env_names <= FIELDS, env_names - FIELDS


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    copies = [
        line.split()[1:-1] for line in lines if line.startswith("COPY ") and "--from" not in line
    ]
    sources = {src for srcs in copies for src in srcs}
    assert sources == allowed
    assert "**" in (ROOT / ".dockerignore").read_text().splitlines()


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_healthcheck_script_exit_codes() -> None:
    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    script = str(DEPLOY / "healthcheck.py")
    try:
        env = {**os.environ, "SLAWATCH_API_PORT": str(port)}
        assert run(sys.executable, script, env=env).returncode == 0
        bad = run(sys.executable, script, f"http://127.0.0.1:{port}/metrics")
        assert bad.returncode == 1 and "HTTP 503" in bad.stdout
    finally:
        server.shutdown()
        server.server_close()
    down = run(sys.executable, script, f"http://127.0.0.1:{port}/healthz")
    assert down.returncode == 1 and "unhealthy" in down.stdout


def test_setup_script_registers_what_the_workflows_upsert(tmp_path: Path) -> None:
    """Against a real Temporal dev server, twice: the second run must change nothing."""
    port = free_port()
    server = subprocess.Popen(
        [
            tool("temporal"),
            "server",
            "start-dev",
            "--headless",
            "--port",
            str(port),
            "--http-port",
            "0",
            "--metrics-port",
            "0",
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "PATH": f"{Path(tool('temporal')).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "TEMPORAL_NAMESPACE": "slawatch-deploy-test",
        "WAIT_ATTEMPTS": "30",
    }
    try:
        first = run("sh", str(SETUP_SCRIPT), env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        second = run("sh", str(SETUP_SCRIPT), env=env)
        assert second.returncode == 0, second.stderr
        assert "created" not in second.stdout
        listed = run(
            tool("temporal"), "operator", "search-attribute", "list", "--output", "json", env=env
        )
        custom = json.loads(listed.stdout)["customAttributes"]
    finally:
        stop_process(server, grace=30)
    types = {name: kind.removeprefix("INDEXED_VALUE_TYPE_") for name, kind in custom.items()}
    # "KeywordList" is INDEXED_VALUE_TYPE_KEYWORD_LIST on the wire.
    expected = {n: re.sub(r"(?<!^)(?=[A-Z])", "_", k).upper() for n, k in DEFINITIONS.items()}
    assert types == expected


def test_dashboard_queries_the_series_slawatch_serves() -> None:
    board = json.loads((DEPLOY / "grafana" / "slawatch.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\bslawatch_\w+", e)}
    served = {
        f"{telemetry.BREACHES}_total",
        f"{telemetry.NOTIFICATIONS}_total",
        f"{telemetry.ACKNOWLEDGEMENTS}_total",
        f"{telemetry.PAGE_LAG}_bucket",
        f"{telemetry.DELIVERY_FAILURES}_total",
        f"{telemetry.ESCALATIONS_EXHAUSTED}_total",
    }
    assert used == served
    # Notification outcomes are the two workflows/dispatch.py records, nothing else.
    outcomes = {o for e in exprs for o in re.findall(r'outcome=~?"([^"]+)"', e)}
    assert outcomes == {"failed"}
    assert all(re.search(r"\btemporal_\w+", e) or "slawatch_" in e for e in exprs)
    # Every panel follows the datasource variable the provisioning sets.
    targets = [t for p in board["panels"] for t in p.get("targets", [])]
    assert {t["datasource"]["uid"] for t in targets} == {"${datasource}"}
