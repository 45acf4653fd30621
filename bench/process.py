"""A bot in its own process, polling the fake Telegram of this one, and what it costs.

Why a separate process: in production the bot and Telegram are different machines, so the bot
must not share a core (or an event loop) with the fake server; and the resident memory of the
bot is then exactly `VmRSS` of that process, without the fake's records of every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

from bench.common import BenchError

if TYPE_CHECKING:
    from tests.fake_telegram import FakeTelegram, SentMessage

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# Environment variables that would override the config file we write for the bot.
_OVERRIDES = ("BOT_TOKEN", "DATABASE_URL", "ASA_CONFIG")


def _toml_value(value: Any) -> str:
    """A TOML literal for the few kinds of values our settings use."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A config.toml for `python -m bot run`."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def telegram_section(fake: FakeTelegram, **extra: Any) -> dict[str, Any]:
    """[telegram] pointing the bot at the fake server."""
    return {
        "token": fake.token,
        "base_url": fake.base_url,
        "base_file_url": fake.base_file_url,
        **extra,
    }


class BotProcess:
    """A child process running a bot; started, measured and stopped by this process."""

    def __init__(self, argv: list[str], *, log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None

    @classmethod
    def asa(cls, *, config: Path, log_path: Path) -> BotProcess:
        """The real bot, exactly as production starts it."""
        return cls([sys.executable, "-m", "bot", "run", "--config", str(config)], log_path=log_path)

    @classmethod
    def echo(cls, *, fake: FakeTelegram, concurrency: int, log_path: Path) -> BotProcess:
        """The minimal python-telegram-bot echo bot of bench/echo.py."""
        argv = [sys.executable, "-m", "bench.echo", "--base-url", fake.base_url]
        argv += ["--token", fake.token, "--concurrency", str(concurrency)]
        return cls(argv, log_path=log_path)

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self._process is None:
            raise BenchError("the bot process is not started")
        return self._process.pid

    async def start(
        self,
        fake: FakeTelegram,
        *,
        settle: bool = True,
        timeout: float = START_TIMEOUT,  # noqa: ASYNC109
    ) -> None:
        """Start the child and wait until it polls the fake server (and, if `settle`, is quiet).

        A bot with work waiting at start-up (an outbox to send) is never quiet: don't settle.
        """
        env = {key: value for key, value in os.environ.items() if key not in _OVERRIDES}
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, cwd=REPO, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        deadline = perf_counter() + timeout
        while not fake.calls_of("getUpdates"):
            if self._process.returncode is not None:
                raise BenchError(f"the bot exited with {self._process.returncode}:\n{self.tail()}")
            if perf_counter() > deadline:
                await self.stop()
                raise BenchError(f"the bot did not poll within {timeout:.0f}s:\n{self.tail()}")
            await asyncio.sleep(0.05)  # the child gives no other sign; poll its first request
        if settle:
            try:
                await fake.wait_idle(timeout=timeout, quiet=0.5)
            except AssertionError as error:
                raise BenchError(f"the bot did not settle after starting: {error}") from error

    def _status(self, field: str) -> int:
        """A kB figure from /proc/<pid>/status (VmRSS: resident now; VmHWM: its peak)."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        except OSError as error:
            raise BenchError(f"cannot read the memory of process {self.pid}: {error}") from error
        for line in text.splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise BenchError(f"/proc/{self.pid}/status has no {field}")

    def rss_kib(self) -> int:
        """Resident memory now, in KiB."""
        return self._status("VmRSS")

    def peak_rss_kib(self) -> int:
        """The highest resident memory so far, in KiB."""
        return self._status("VmHWM")

    async def stop(self) -> int | None:
        """SIGTERM (the bot shuts down cleanly), then SIGKILL if it hangs; the exit code."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            return await process.wait()

    def tail(self, lines: int = 30) -> str:
        """The end of the child's log, for error messages."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"


class Arrivals:
    """When each chat got the bot's messages, recorded by the fake server as they arrive.

    Persons' own `next_reply` rescans every message on every arrival, which is quadratic at
    thousands of chats; this wraps the fake's single entry point for bot messages instead.
    """

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.counts: Counter[int] = Counter()
        self.texts: dict[int, str] = {}
        self._awaited: set[int] = set()
        world = fake.world
        original = world.add_bot_message

        def record(message: SentMessage) -> None:
            now = perf_counter()
            chat = message.chat_id
            self.counts[chat] += 1
            if chat not in self.first:
                self.first[chat] = now
                self.texts[chat] = message.shown_text
                self._awaited.discard(chat)
            self.last[chat] = now
            original(message)

        world.add_bot_message = record  # type: ignore[method-assign]

    async def wait_for(self, chats: set[int], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every chat in `chats` got at least one message."""
        self._awaited = {chat for chat in chats if chat not in self.first}
        if not await self.fake.world.messages_changed.wait_until(
            lambda: not self._awaited, timeout
        ):
            raise BenchError(
                f"{len(self._awaited)} of {len(chats)} chats got no reply within {timeout:.0f}s"
            )
