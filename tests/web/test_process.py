"""`python -m bot run`: the bot and its web side in one process, stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.fake_telegram import FakeTelegram
from tests.web.conftest import free_port


async def test_one_process_serves_bot_and_web_and_stops_on_sigterm(
    telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[telegram]\nbase_url = "{telegram.base_url}"\n'
        f'base_file_url = "{telegram.base_file_url}"\npoll_timeout = 1\n'
        f'[web]\nlisten = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    environ = {
        **os.environ,
        "BOT_TOKEN": telegram.token,
        "DATABASE_URL": database_url,
        "ASA_CONFIG": str(config),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=environ, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert loop.time() < deadline, "never ready"
                await asyncio.sleep(0.2)
            chat = telegram.person()
            await chat.send("/start")
            assert (await chat.next_reply(timeout=15)).text
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()[-2000:]
        log = stderr.decode()
        assert "stopping: no new updates" in log
        assert "Traceback" not in log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
