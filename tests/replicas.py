"""Real bot processes in webhook mode, behind a round-robin proxy, on one PostgreSQL database.

Each replica is `python -m bot run --config <its file>` (exactly what production runs), with
the web side on a port of its own; the fake Telegram pushes updates to the proxy, which spreads
them over the replicas that answer. Tests kill them (SIGKILL, as a lost machine), stop them
(SIGTERM, as a rolling restart) and start them again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.fake_telegram import Balancer, FakeTelegram
from tests.web.conftest import free_port

REPO = Path(__file__).resolve().parent.parent
SECRET = "replica-test-secret"
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0  # a graceful stop must finish within this (issue: "exits within 10 s")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A config.toml."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Replica:
    """One `python -m bot run` process."""

    def __init__(self, name: str, config: Path, log: Path, port: int) -> None:
        self.name = name
        self.config = config
        self.log = log
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process (its output appended to its log)."""
        env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def ready(self, timeout: float = READY_TIMEOUT) -> None:  # noqa: ASYNC109
        """Until /readyz says ready (or the process died)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if loop.time() > deadline:
                    raise AssertionError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")
                # Polling a known condition (readiness) of another process, not a quiet moment.
                await asyncio.sleep(0.2)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process vanishes mid-work, as when its machine is lost."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    async def terminate(self) -> float:
        """SIGTERM: a graceful stop. Returns how long it took (it must be under 10 s)."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, STOP_TIMEOUT + 5)
        assert code == 0, f"{self.name} exited {code}:\n{self.log.read_text()[-3000:]}"
        return loop.time() - started

    def stop_now(self) -> None:
        """Clean-up: whatever state it is in, it ends."""
        if self.running and self.process is not None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


class ReplicaSet:
    """N replicas on one database, behind a balancer the fake Telegram posts to."""

    def __init__(
        self,
        fake: FakeTelegram,
        database_url: str,
        workdir: Path,
        count: int = 3,
        *,
        sections: dict[str, dict[str, Any]] | None = None,
        **bot: Any,
    ) -> None:
        self.fake = fake
        self.database_url = database_url
        self.workdir = workdir
        self.balancer = Balancer()
        self.replicas: list[Replica] = []
        self.count = count
        self.bot_settings = bot
        # Settings merged over the defaults below, per section (e.g. {"telegram":
        # {"rate_limit": 29.0}} for Telegram's real pace instead of the tests' 1000).
        self.sections = sections or {}

    async def __aenter__(self) -> ReplicaSet:
        await self.balancer.start()
        for n in range(self.count):
            port = free_port()
            settings: dict[str, dict[str, Any]] = {
                "telegram": {
                    "token": self.fake.token,
                    "base_url": self.fake.base_url,
                    "base_file_url": self.fake.base_file_url,
                    "mode": "webhook",
                    "webhook_url": self.balancer.url,
                    "secret_token": SECRET,
                    "rate_limit": 1000,
                },
                # 5 (+5 in bursts) each: three replicas, their listeners and whatever else
                # shares the test server stay well under PostgreSQL's 100 connections.
                "database": {"url": self.database_url, "pool_size": 5},
                "web": {"listen": "127.0.0.1", "port": port},
                "bot": {"flood_max_updates": 1000, **self.bot_settings},
            }
            for name, values in self.sections.items():
                settings[name] = {**settings.get(name, {}), **values}
            config = write_config(self.workdir / f"replica-{n}.toml", settings)
            self.replicas.append(
                Replica(f"replica-{n}", config, self.workdir / f"replica-{n}.log", port)
            )
        try:
            for replica in self.replicas:
                replica.start()
            for replica in self.replicas:
                await replica.ready()
        except BaseException:
            # __aexit__ does not run when __aenter__ fails: no replica may outlive the test.
            await self.__aexit__()
            raise
        self.balancer.set_backends([r.url for r in self.replicas])
        return self

    async def __aexit__(self, *_: object) -> None:
        for replica in self.replicas:
            replica.stop_now()
        await self.balancer.stop()

    def logs(self) -> str:
        """Every replica's log (for failure messages)."""
        return "\n".join(
            f"--- {r.name}\n{r.log.read_text()[-4000:]}" for r in self.replicas if r.log.exists()
        )
