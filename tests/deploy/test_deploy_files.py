"""The operator's files in deploy/ are well-formed and agree with the package (no server needed)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.units import DEPLOY, exec_start_argv, read_env_file, read_unit

ROOT = DEPLOY.parent
yaml = pytest.importorskip("yaml")


def _scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            rows.append((instruction.upper(), rest.strip()))
    return rows


def test_dockerfile_runs_the_package_entry_point_as_a_non_root_user():
    rows = _dockerfile()
    assert rows[0] == ("FROM", "python:3.11-slim")
    args = dict(rows)  # last one wins, as in Docker
    entry = json.loads(args["ENTRYPOINT"])
    assert entry[0] in _scripts(), "the entrypoint must be a console script of pyproject.toml"
    assert json.loads(args["CMD"])[0] == "serve"
    assert args["USER"] not in ("root", "0")
    assert any(i == "RUN" and "pip install" in a and "useradd" in a for i, a in rows)
    assert "/health" in args["HEALTHCHECK"]
    # every COPY source exists, so the build context is right
    for instruction, rest in rows:
        if instruction == "COPY":
            for src in shlex.split(rest)[:-1]:
                assert (ROOT / src).exists(), src
    # the packages setuptools finds are all copied
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = {shlex.split(r)[0] for i, r in rows if i == "COPY"}
    assert {p.rstrip("*") for p in include["include"]} <= copied


def test_compose_has_app_db_and_optional_dask_with_healthchecks_and_volumes():
    spec = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = spec["services"]
    assert {"app", "db", "dask-scheduler", "dask-worker"} <= set(services)
    app, db = services["app"], services["db"]
    assert app["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["XMM_EXPLORER_DB"].startswith("postgresql://")
    assert "@db:5432/" in app["environment"]["XMM_EXPLORER_DB"]
    assert app["environment"]["XMM_EXPLORER_DATA"] == "/data"
    assert any(v.endswith(":/data") for v in app["volumes"])
    assert any("/var/lib/postgresql/data" in v for v in db["volumes"])
    assert "/health" in " ".join(app["healthcheck"]["test"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    named = set(spec["volumes"])
    for service in services.values():
        for v in service.get("volumes", []):
            source = v.split(":")[0]
            assert source in named, f"volume {source!r} is not declared"
    for name in ("dask-scheduler", "dask-worker"):
        assert services[name]["profiles"] == ["dask"], "Dask must stay optional"
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    assert app["command"][0] == "serve" and "--num-procs" in app["command"]
    assert "app" not in {p for s in services.values() for p in s.get("profiles", [])}


def test_nginx_proxies_websockets_with_long_timeouts_and_caches_static():
    text = (DEPLOY / "nginx.conf").read_text()
    assert text.count("{") == text.count("}")
    for directive in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_http_version 1.1;",
        "proxy_read_timeout 3600s;",
        "proxy_pass http://xmm_explorer;",
        "expires 7d;",
    ):
        assert directive in text, directive
    assert "map $http_upgrade $connection_upgrade" in text


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_config(tmp_path):
    conf = (DEPLOY / "nginx.conf").read_text().replace("/var/log/nginx/", f"{tmp_path}/")
    conf = conf.replace("/var/cache/nginx/", f"{tmp_path}/cache/")
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    out = subprocess.run(["nginx", "-t", "-c", str(path), "-e", str(tmp_path / "error.log")], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()


def test_systemd_unit_stops_the_whole_process_group_and_reads_the_env_file():
    unit = read_unit(DEPLOY / "xmm-explorer.service")
    service = unit["Service"]
    assert service["KillMode"] == "control-group"
    assert service["Restart"] == "on-failure"
    assert service["User"] and service["User"] != "root"
    assert service["EnvironmentFile"].endswith("xmm-explorer.env")
    assert int(service["TimeoutStopSec"]) >= 15
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    env = read_env_file(DEPLOY / "xmm-explorer.env.example")
    argv = exec_start_argv(unit, env)  # every ${VAR} is defined in the example env file
    assert Path(argv[0]).name in _scripts()
    assert argv[argv.index("--data-dir") + 1] == env["XMM_EXPLORER_DATA"]
    assert "serve" in argv and "--num-procs" in argv


def test_example_env_file_names_what_the_app_reads():
    from app import config

    env = read_env_file(DEPLOY / "xmm-explorer.env.example")
    assert {config.DATA_ENV, config.RELEASE_ENV, config.DB_ENV} <= set(env)


def test_operations_guide_covers_backups_upgrades_and_scaling():
    text = (DEPLOY / "OPERATIONS.md").read_text()
    for needle in ("AUTH.md", ".backup", "pg_dump", "upgrade-flags", "--num-procs", "Dask", "/health"):
        assert needle in text, needle


def test_serve_command_adds_health_and_session_release(tmp_path, monkeypatch):
    import argparse

    from app.cli import serve_command

    monkeypatch.setenv("PANEL_COOKIE_SECRET", "s" * 48)  # serve_command would otherwise create one
    args = argparse.Namespace(port=5999, address=None, num_procs=2, data_dir=tmp_path)
    cmd = serve_command(args, [])
    assert cmd[cmd.index("app.health") - 1] == "--plugins"
    assert int(cmd[cmd.index("--unused-session-lifetime") + 1]) <= 60_000
    assert int(cmd[cmd.index("--check-unused-sessions") + 1]) <= 10_000
    override = serve_command(args, ["--unused-session-lifetime", "9000"])
    assert override.count("--unused-session-lifetime") == 1
