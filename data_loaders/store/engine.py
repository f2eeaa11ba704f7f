"""Database URLs, engines, SQLite pragmas and the write transaction of the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_FILENAME = "xmm_explorer.db"
#: How long a SQLite writer waits for another writer's lock before failing, ms.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that marks a connection as a writer (SQLite: ``BEGIN IMMEDIATE``).
WRITE_OPTION = "xmm_store_write"


def resolve_url(url: str | None, data_dir: Path) -> URL:
    """The SQLAlchemy URL for ``url``, or the default SQLite file in ``data_dir``.

    ``postgresql://`` and ``postgres://`` are rewritten to the psycopg 3 driver.
    """
    if not url:
        return URL.create("sqlite", database=str(Path(data_dir) / DEFAULT_FILENAME))
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # One driver for every deployment: psycopg 3 (psycopg2 is not installed).
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError(
                "The store needs a SQLite file (sqlite:///path/to/file.db), not an in-memory "
                "database, because every connection of the pool must see the same data."
            )
        return parsed
    raise ValueError(
        f"Unsupported store URL scheme {parsed.drivername!r}; expected sqlite:///file.db or postgresql://user@host/db."
    )


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself: pysqlite's implicit transactions
    # neither cover DDL nor let us choose BEGIN IMMEDIATE for writers.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # A writer takes the write lock up front: a deferred transaction that later tries to
    # upgrade from read to write fails with SQLITE_BUSY without honouring busy_timeout.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: URL) -> Engine:
    """An engine with the pragmas (SQLite) or pool settings (PostgreSQL) the store needs."""
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=5, max_overflow=10, pool_timeout=60)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_timeout=60,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


class Writer:
    """Opens write transactions; in-process SQLite writers queue on a lock, not on busy-waits."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one committed-or-rolled-back write transaction."""
        with (
            self._lock if self._lock is not None else nullcontext(),
            self.engine.connect() as conn,
        ):
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
