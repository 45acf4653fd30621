"""A throwaway PostgreSQL cluster of a test's own (initdb on a free port), to stop and start.

Fault tests need a database that goes away and comes back; the shared server on 5432 must not.
The cluster lives in a temporary directory owned by the `postgres` user (initdb refuses root),
listens on 127.0.0.1 and a unix socket in that directory, trusts local connections, and is
stopped and deleted at the end whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_ROOT = Path("/usr/lib/postgresql")


def _bin(name: str) -> str:
    """The newest installed PostgreSQL's program (initdb, pg_ctl...)."""
    versions = sorted(PG_BIN_ROOT.glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError(
            "PostgreSQL server programs are not installed (apt-get install postgresql)"
        )
    return str(versions[-1] / name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the postgres user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class ThrowawayCluster:
    """initdb, start, stop, start again, delete."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="asa-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"

    @property
    def url(self) -> str:
        """The async URL of its `postgres` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, timeout=120)

    async def create(self) -> None:
        """initdb (trust authentication) and start."""
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        await asyncio.to_thread(
            self._run,
            _bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        await self.start()

    async def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        await asyncio.to_thread(
            self._run,
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    async def stop(self) -> None:
        """Stop it now: open connections are cut, as when a server dies or restarts."""
        await asyncio.to_thread(
            self._run, _bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )

    async def destroy(self) -> None:
        """Stop (if running) and delete everything."""
        await asyncio.to_thread(
            subprocess.run,
            _as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)
