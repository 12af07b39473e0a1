"""A real PostgreSQL server for the tests, started from Debian's `postgresql` package binaries
(`bash .ci/install-system` installs them) on a free loopback port in a temporary directory.

One server per session, started on first use; each test that asks gets a fresh database. The
server runs under `setpriv --pdeathsig INT`: if pytest dies (even by kill -9) the kernel tells
the postmaster, which shuts down by itself. PostgreSQL refuses to run as root, so under root the
server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from psycopg import sql

from slawatch.tools.process import NotReady, stop_process, wait_until
from slawatch.tools.standins.tools import free_port

__all__ = ["PostgresServer", "ledger_url", "postgres"]

ADMIN = "slawatch_admin"


def pg_bindir() -> Path:
    """The directory holding initdb and postgres: PATH first, then Debian's versioned dirs."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)],
    )
    if not debian:
        pytest.fail("PostgreSQL is not installed: run `bash .ci/install-system`")
    return debian[-1].parent


@dataclass
class PostgresServer:
    port: int
    password: str
    root: Path
    proc: subprocess.Popen[bytes]

    def url(self, database: str = "postgres", user: str = ADMIN, password: str = "") -> str:
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as db:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as db:
            db.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _as_owner(argv: list[str], owner: pwd.struct_passwd | None) -> list[str]:
    """`argv` run by `owner` (when we are root), dying with its parent process either way."""
    drop = []
    if owner is not None:
        drop = ["--reuid", str(owner.pw_uid), "--regid", str(owner.pw_gid), "--clear-groups"]
    return ["setpriv", "--pdeathsig", "INT", *drop, *argv]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """initdb + postgres on 127.0.0.1:<free port>, password auth (scram-sha-256) over TCP."""
    bindir = pg_bindir()
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="slawatch-pg-"))
    password = secrets.token_hex(16)
    (root / "pw").write_text(password + "\n")
    if owner is not None:
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    initdb = [str(bindir / "initdb"), "-D", str(root / "data"), "-U", ADMIN]
    initdb += ["--pwfile", str(root / "pw"), "--auth-local=trust", "--auth-host=scram-sha-256"]
    initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
    done = subprocess.run(_as_owner(initdb, owner), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    # Durability off: a test database that dies with the test loses nothing anyone needs.
    server = [str(bindir / "postgres"), "-D", str(root / "data"), "-p", str(port)]
    for option in (
        "listen_addresses=127.0.0.1",
        f"unix_socket_directories={root}",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "max_connections=200",
    ):
        server += ["-c", option]
    with (root / "postgres.log").open("wb") as log:
        proc = subprocess.Popen(_as_owner(server, owner), stdout=log, stderr=log)
    made = PostgresServer(port, password, root, proc)

    def accepting() -> bool:
        made.admin().close()
        return True

    try:
        wait_until(
            "PostgreSQL to accept connections",
            accepting,
            30,
            proc=proc,
            log=root / "postgres.log",
            errors=(psycopg.OperationalError,),
        )
    except NotReady as exc:
        stop_process(proc, grace=0, first=signal.SIGKILL)
        pytest.fail(f"PostgreSQL did not start: {exc}")
    try:
        yield made
    finally:
        # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, stop cleanly.
        stop_process(proc, grace=30, first=signal.SIGINT)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ledger_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database for one test's ledger."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


S = TypeVar("S")


def store_pair(
    request: pytest.FixtureRequest,
    sqlite: Callable[[Path], S],
    postgresql: Callable[[str], S],
    path: Path,
) -> tuple[S, S]:
    """Two stores over one backend, as two processes would open it: the fixture's param picks
    SQLite (both on `path`) or PostgreSQL (both on one fresh `ledger_url` database)."""
    if request.param == "sqlite":
        return sqlite(path), sqlite(path)
    url = request.getfixturevalue("ledger_url")
    return postgresql(url), postgresql(url)
