"""A throwaway PostgreSQL server for tests (initdb + pg_ctl on a free loopback port).

``XMM_TEST_POSTGRES_URL`` wins when set; otherwise the server binaries in
``PG_BIN_DIRS`` are used, run as the ``postgres`` user when we are root.
``postgres_server()`` yields a URL; ``fresh_database(url)`` yields the URL of a new,
empty database on that server and drops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "XMM_TEST_POSTGRES_URL"
PG_BIN_DIRS = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL for the tests; the message says why (used as the skip reason)."""


def _bin_dir() -> Path:
    for directory in PG_BIN_DIRS:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailable(
        f"no {ENV_URL} set and no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin"
    )


def _run_as() -> str | None:
    """The account to run the server as: 'postgres' when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root but there is no 'postgres' user to run the server") from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and 'runuser' is not available")
    return "postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(user: str | None, *args: str) -> list[str]:
    return ["runuser", "-u", user, "--", *args] if user else list(args)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a ``postgresql://`` URL of a server (from the environment or started here)."""
    if os.environ.get(ENV_URL):
        yield os.environ[ENV_URL]
        return
    bin_dir = _bin_dir()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="xmm-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    if user:
        info = pwd.getpwnam(user)
        for path in (root, sockets):
            os.chown(path, info.pw_uid, info.pw_gid)
    port = _free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        subprocess.run(
            _command(
                user,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            _command(user, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"),
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        stderr = getattr(exc, "stderr", b"") or b""
        raise PostgresUnavailable(
            f"could not start PostgreSQL from {bin_dir}: {exc} {stderr.decode(errors='replace')} {detail}"
        ) from exc
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _command(user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Yield the URL of a new empty database on the server; drop it afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    base = make_url(server_url.replace("postgresql+psycopg://", "postgresql://"))
    name = f"xmm_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
