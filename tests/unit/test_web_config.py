"""[web] settings: documented defaults, and one sentence (exit 2) for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import ConfigError, load_settings

GOOD_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def write(tmp_path: Path, web: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[web]\n{web}\n', encoding="utf-8")
    return path


def test_defaults_and_the_public_address(tmp_path: Path) -> None:
    web = load_settings(write(tmp_path, ""), environ={}).web
    assert (web.enabled, web.listen, web.port) == (True, "127.0.0.1", 8080)
    assert web.base_url == "http://127.0.0.1:8080"
    assert web.init_data_max_age_seconds == 14400
    assert web.login_link_minutes == 10
    web = load_settings(
        write(tmp_path, 'public_url = "https://asa.example.org/"\nlisten = "::"'), environ={}
    ).web
    assert web.base_url == "https://asa.example.org"
    assert load_settings(write(tmp_path, 'listen = "::1"'), environ={}).web.base_url == (
        "http://[::1]:8080"
    )


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        ("port = 70000", "[web] port"),
        ('listen = "my host"', "[web] listen"),
        ('listen = "http://0.0.0.0"', "[web] listen"),
        ('public_url = "asa.example.org"', "[web] public_url"),
        ('public_url = "ftp://asa.example.org"', "[web] public_url"),
        ('public_url = "https://asa.example.org/?x=1"', "[web] public_url"),
        ("init_data_max_age_seconds = 10", "[web] init_data_max_age_seconds"),
        ("login_link_minutes = 0", "[web] login_link_minutes"),
        ("screen_tick_seconds = 0", "[web] screen_tick_seconds"),
        ("prot = 8080", "Unknown setting [web] prot"),
    ],
)
def test_bad_web_settings_are_one_sentence(tmp_path: Path, web: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, web), environ={})
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_the_command_line_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert main(["check-config", "--config", str(write(tmp_path, "port = -1"))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("asa: Setting [web] port")
    assert len(err.splitlines()) == 1
