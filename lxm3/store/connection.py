"""Opening the experiment database: the private file, per-thread connections, migrations.

Split from `db.py` so the queries (`ExperimentStore`) read apart from how the
SQLite file is opened and kept safe: created 0600 in a 0700 dir (it holds
args and env), one connection per thread and never across a fork, writes in
`BEGIN IMMEDIATE` transactions, and the numbered migrations of
`lxm3.store.schema` run once, inside the transaction that checks the version.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lxm3.errors import LxmError
from lxm3.store.schema import _JSON_COLUMNS, MIGRATIONS


class StoreError(LxmError, RuntimeError):
    """The experiment database cannot be opened or is damaged."""


def _open_private(path: Path) -> str:
    """Creates the store file 0600 in a 0700 dir (it holds args and env); "read-only" if it cannot be written.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if path.exists():
        # Never open (and close) a descriptor of an existing store: closing ANY descriptor of a
        # file drops every POSIX lock this process holds on it, SQLite's included, so a second
        # store object would let another process delete the WAL under this one's connections.
        if not os.access(path, os.W_OK):  # EACCES, EROFS
            if os.access(path, os.R_OK):
                return "read-only"
            raise StoreError(f"cannot open the experiment store {path}: Permission denied")
        try:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)  # made by an older lxm3
        except OSError:
            pass
    else:
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as error:  # EACCES, EPERM, EROFS
            raise StoreError(f"cannot open the experiment store {path}: {error.strerror}") from None
    probe = path.parent / f".{path.name}.w{os.getpid()}"
    try:  # SQLite must create its -wal file beside it (os.access is blind to read-only mounts)
        probe.touch()
        probe.unlink()
    except OSError:
        return "read-only"
    return "read-write"


def default_store_path() -> Path:
    explicit = os.environ.get("LXM3_STORE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "lxm3" / "experiments.sqlite3"


class StoreConnection:
    """Process- and thread-safe access to the experiment database file (`ExperimentStore` queries it)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_store_path()
        self._local = threading.local()
        #: Set when the file can only be read: reads work, writes raise StoreError.
        self.read_only = False
        if _open_private(self.path) == "read-only":
            self.read_only = True
            return
        try:
            with self._transaction() as db:
                self._migrate(db)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open the experiment store {self.path}: {error}") from None

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        # A connection must never cross a fork (multiprocessing): open a fresh one in the child.
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            if self.read_only:
                db = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None
                )
                db.row_factory = sqlite3.Row
                self._local.db = db
                self._local.pid = os.getpid()
                return db
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreError(f"the experiment store {self.path} is read-only; this command needs to write it")
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")

    @property
    def identity(self) -> str:
        """A stable id of this store (host + file), to tell its experiments apart on a shared cluster."""
        return hashlib.sha256(f"{socket.gethostname()}\0{self.path.resolve()}".encode()).hexdigest()[:16]

    @property
    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Closes this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None and getattr(self._local, "pid", None) == os.getpid():
            db.close()
        self._local.db = None


def decode_row(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a dict, its JSON columns parsed."""
    result = dict(row)
    for key in _JSON_COLUMNS:
        if key in result and isinstance(result[key], str):
            try:
                result[key] = json.loads(result[key])
            except ValueError:
                pass
    return result
