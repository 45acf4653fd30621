"""A bot in its own process, polling a fake Telegram of this one, and what it costs.

Why a separate process: in production the bot and Telegram are different machines, so the bot
must not share a core (or an event loop) with the fake server; and the resident memory and CPU
time of the bot are then exactly those of that process (/proc/<pid>), without the fake's work.

Every bot, asa and the reference bots alike, is started by the same interpreter with the same
flags and environment as the bench itself (`python_command`), in a process group of its own
(bench/lifecycle.py). Settling waits for conditions the bench knows: the bot polls, every chat
got its reply, the fake is quiescent (every update fetched and confirmed, no request in flight
but the long poll), and, for the broadcast, the outbox table has nothing pending or sending.
Never for a quiet window: a bot doing database work for an update makes no request, so silence
proves nothing.

Settling uses the fake's public `changed` signal and `quiescent()`. The one place that reaches
into its internals is `Arrivals`, which wraps `World.add_bot_message` to stamp each message as
it arrives: `sent` has no times, and stamping it later would add the event loop's delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from bench import lifecycle
from bench.common import BenchError
from bench.echo import DEFAULT_CONCURRENCY
from tests.fake_telegram import FakeTelegram, SentMessage

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Environment variables that would override the config file we write for the bot.
_OVERRIDES = ("BOT_TOKEN", "DATABASE_URL", "ASA_CONFIG")


def python_command() -> list[str]:
    """This interpreter with this process's flags (-X, -W, -O, -B ...): every bot runs alike."""
    # The standard library's own helper for re-running the interpreter the same way.
    return [sys.executable, *subprocess._args_from_interpreter_flags()]  # type: ignore[attr-defined]


def child_environment() -> dict[str, str]:
    """The bench's environment, minus what would override a bot's config file."""
    return {key: value for key, value in os.environ.items() if key not in _OVERRIDES}


def sniffio_in_children() -> bool:
    """Whether a bot's interpreter finds sniffio (without it httpcore scans sys.path per lock)."""
    probe = subprocess.run(
        [*python_command(), "-c", "import sniffio"],
        cwd=REPO,
        env=child_environment(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    return probe.returncode == 0


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


def asa_config(path: Path, fake: FakeTelegram, url: str, **telegram: Any) -> Path:
    """asa's config: the fake server and a database; everything else as shipped."""
    return write_config(
        path,
        {
            "telegram": telegram_section(fake, poll_timeout=10, **telegram),
            "database": {"url": url},
            # The web side runs as shipped, on a port of its own (several bots run at once).
            "web": {"port": 0},
        },
    )


Build = Callable[[FakeTelegram], "BotProcess"]


def asa_builder(
    workdir: Path, name: str, url: str, *, checkout: Path = REPO, **telegram: Any
) -> Build:
    """How to start asa on `url` for a given fake server; its config and log are named `name`.
    `checkout`: the source tree whose asa runs (another one for `bench checkin --baseline`)."""

    def build(fake: FakeTelegram) -> BotProcess:
        config = asa_config(workdir / f"{name}.toml", fake, url, **telegram)
        return BotProcess.asa(config=config, log_path=workdir / f"{name}.log", checkout=checkout)

    return build


def reference_builder(workdir: Path, name: str, database_url: str | None = None) -> Build:
    """How to start a reference bot (echo, or INSERT with `database_url`) for a fake server."""

    def build(fake: FakeTelegram) -> BotProcess:
        return BotProcess.reference(
            fake=fake,
            concurrency=DEFAULT_CONCURRENCY,
            log_path=workdir / f"{name}.log",
            database_url=database_url,
        )

    return build


class BotProcess:
    """A child process running a bot; started, measured and stopped by this process."""

    def __init__(self, argv: list[str], *, log_path: Path, checkout: Path = REPO) -> None:
        self.argv = argv
        self.log_path = log_path
        # Its working directory: `python -m` imports the packages found there first.
        self.checkout = checkout
        self._process: asyncio.subprocess.Process | None = None

    @classmethod
    def asa(cls, *, config: Path, log_path: Path, checkout: Path = REPO) -> BotProcess:
        """The real bot, exactly as production starts it, from `checkout`'s source tree."""
        argv = [*python_command(), "-m", "bot", "run", "--config", str(config)]
        return cls(argv, log_path=log_path, checkout=checkout)

    @classmethod
    def reference(
        cls,
        *,
        fake: FakeTelegram,
        concurrency: int,
        log_path: Path,
        database_url: str | None = None,
    ) -> BotProcess:
        """A bare python-telegram-bot bot (bench/echo.py): echo, or one INSERT then echo."""
        argv = [*python_command(), "-m", "bench.echo", "--base-url", fake.base_url]
        argv += ["--token", fake.token, "--concurrency", str(concurrency)]
        if database_url is not None:
            argv += ["--database-url", database_url]
        return cls(argv, log_path=log_path)

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self._process is None:
            raise BenchError("the bot process is not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self._process is not None and self._process.returncode is None

    async def start(self, fake: FakeTelegram, *, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start the child and wait until it polls the fake server (its start-up is done).

        python-telegram-bot polls only after `post_init`, so by then asa has set its menus and
        started its outbox; whatever it still does is work the measurement should see.
        """
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.checkout,
                env=child_environment(),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        lifecycle.adopt_child(self._process.pid)
        exited = asyncio.ensure_future(self._process.wait())
        polled = asyncio.ensure_future(wait_polling(fake, timeout))
        try:
            await asyncio.wait({exited, polled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (exited, polled):
                waiter.cancel()
        if self._process.returncode is not None:
            code = self._process.returncode
            await self.stop()
            raise BenchError(f"the bot exited with {code}:\n{self.tail()}")
        if not polled.result():
            await self.stop()
            raise BenchError(f"the bot did not poll within {timeout:.0f}s:\n{self.tail()}")

    def _proc(self, name: str) -> str:
        """The text of /proc/<pid>/<name>."""
        try:
            return Path(f"/proc/{self.pid}/{name}").read_text(encoding="ascii", errors="replace")
        except OSError as error:
            raise BenchError(f"cannot read /proc/{self.pid}/{name}: {error}") from error

    def _status(self, field: str) -> int:
        """A kB figure from /proc/<pid>/status (VmRSS: resident now; VmHWM: its peak)."""
        for line in self._proc("status").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise BenchError(f"/proc/{self.pid}/status has no {field}")

    def rss_kib(self) -> int:
        """Resident memory now, in KiB."""
        return self._status("VmRSS")

    def peak_rss_kib(self) -> int:
        """The highest resident memory so far, in KiB."""
        return self._status("VmHWM")

    def working_directory(self) -> Path:
        """Where the child runs (/proc/<pid>/cwd): the checkout whose code it imported."""
        return Path(os.readlink(f"/proc/{self.pid}/cwd"))

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the whole process (all its threads) so far."""
        # Fields after the command name, which is in parentheses and may hold spaces:
        # state is field 3, utime 14 and stime 15 (proc(5)).
        fields = self._proc("stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def command_line(self) -> list[str]:
        """The child's argv as the kernel has it."""
        return [part for part in self._proc("cmdline").split("\0") if part]

    async def stop(self, *, graceful: bool = True) -> int | None:
        """SIGTERM (the bot shuts down cleanly), then SIGKILL if it hangs; the exit code.

        With `graceful=False`, SIGKILL at once: for a bot whose backlog we no longer want.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            if process.returncode is None:
                if graceful:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGTERM)
                    with contextlib.suppress(TimeoutError):
                        return await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
                lifecycle.kill_group(process.pid)
            return await process.wait()
        finally:
            # The bot is gone; anything it started in its group goes with it.
            lifecycle.kill_group(process.pid)
            lifecycle.release_child(process.pid)

    def tail(self, lines: int = 30) -> str:
        """The end of the child's log, for error messages."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"


async def wait_polling(fake: FakeTelegram, timeout: float) -> bool:  # noqa: ASYNC109
    """Whether a bot called getUpdates on `fake` within `timeout` seconds."""
    return await fake.changed.wait_until(lambda: bool(fake.calls_of("getUpdates")), timeout)


async def wait_quiescent(fake: FakeTelegram, timeout: float) -> bool:  # noqa: ASYNC109
    """Whether, within `timeout` seconds, the bot confirmed every update and has no request
    in flight but its long poll (the fake's `quiescent`)."""
    return await fake.changed.wait_until(fake.quiescent, timeout)


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

    async def wait_for(self, chats: set[int], timeout: float) -> bool:  # noqa: ASYNC109
        """Whether every chat in `chats` got at least one message within `timeout` seconds."""
        self._awaited = {chat for chat in chats if chat not in self.first}
        return await self.fake.world.messages_changed.wait_until(lambda: not self._awaited, timeout)

    def missing(self, chats: set[int]) -> int:
        """How many of `chats` got no message yet."""
        return sum(chat not in self.first for chat in chats)


@dataclass
class Seat:
    """One bot polling its own fake Telegram (rate limits off), with its arrivals recorded."""

    name: str
    fake: FakeTelegram
    process: BotProcess
    arrivals: Arrivals


@contextlib.asynccontextmanager
async def seat(name: str, build: Build) -> AsyncIterator[Seat]:
    """A fresh fake server and the bot `build` makes for it, started; both stopped on exit."""
    async with FakeTelegram(rate_limits=False) as fake:
        process = build(fake)
        arrivals = Arrivals(fake)
        try:
            await process.start(fake)
            yield Seat(name=name, fake=fake, process=process, arrivals=arrivals)
        finally:
            await process.stop()
