"""A throwaway PostgreSQL server for the poll store's tests and benchmark: Debian's server binaries, a temporary
data folder, loopback only, removed afterwards.

PostgreSQL refuses to run as root, so as root (here and in CI) the server runs as the unprivileged `postgres` user
(created by Debian's package), or `nobody` when there is none.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL server (`/usr/lib/postgresql/<version>/bin`), or None."""
    found = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl") if (path.parent / "initdb").exists()]
    return max(found, key=lambda folder: int(folder.parent.name)) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix that runs the server binaries as an unprivileged user, and that user's uid/gid."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], user.pw_uid, user.pw_gid
    raise RuntimeError("No unprivileged user (postgres or nobody) to run PostgreSQL as.")


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """Start a PostgreSQL server on a free 127.0.0.1 port; yields the URL of its `postgres` database
    (`postgresql://lab@127.0.0.1:PORT/postgres`, no password: trust on loopback). Stopped and deleted on exit.

    durable: keep PostgreSQL's fsync on (the benchmark); the tests turn it off for speed.
    Raises FileNotFoundError when no server binaries are installed.
    """
    binaries = postgres_bin()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's server binaries are not installed (apt-get install postgresql).")
    prefix, uid, gid = _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="lab-postgres-", dir="/tmp"))  # outside root-only folders
    if uid is not None:
        os.chown(folder, uid, gid)
    data, log = folder / "data", folder / "server.log"
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120, cwd=folder)  # a folder the server's user can enter

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "lab", "-A", "trust", "-E", "UTF8", "--locale=C",
            "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not durable:
            options += " -F"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
        try:
            yield f"postgresql://lab@127.0.0.1:{port}/postgres"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or b"").decode(errors="replace")[-2000:]
        if log.exists():
            detail += log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL failed: {' '.join(error.cmd)}\n{detail}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server_url: str) -> str:
    """Create an empty database on the server; returns its URL."""
    import psycopg

    name = "lab_" + secrets.token_hex(6)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name
