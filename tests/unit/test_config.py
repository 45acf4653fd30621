"""Configuration: defaults, environment overrides, and one clear sentence for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import ConfigError, load_settings

GOOD_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_when_only_the_token_is_given(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, f'[telegram]\ntoken = "{GOOD_TOKEN}"\n'), environ={})
    assert settings.bot.timezone == "Asia/Bangkok"
    assert settings.bot.default_language == "th"
    assert settings.database.url == "sqlite+aiosqlite:///data/asa.db"
    assert settings.telegram.base_url == "https://api.telegram.org/bot"
    assert settings.telegram.rate_limit < 30


def test_environment_overrides_token_and_database(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[telegram]\ntoken = "1:bad"\n[database]\nurl = "sqlite+aiosqlite:///x.db"\n'
    )
    settings = load_settings(
        path, environ={"BOT_TOKEN": GOOD_TOKEN, "DATABASE_URL": "postgresql+asyncpg://u@h/db"}
    )
    assert settings.telegram.token == GOOD_TOKEN
    assert settings.database.url == "postgresql+asyncpg://u@h/db"


def test_asa_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[bot]\nadmins = [42]\n')
    settings = load_settings(environ={"ASA_CONFIG": str(path)})
    assert settings.bot.admins == (42,)


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("", {}, "No bot token"),
        ('[telegram]\ntoken = "not a token"\n', {}, "malformed"),
        (
            f'[telegram]\ntoken = "{GOOD_TOKEN}"\ntokn = "x"\n',
            {},
            "Unknown setting [telegram] tokn",
        ),
        (f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[bott]\n', {}, "Unknown setting [bott]"),
        (
            f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[bot]\ntimezone = "Mars/Olympus"\n',
            {},
            "[bot] timezone",
        ),
        (
            f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[bot]\ndefault_language = "fr"\n',
            {},
            "[bot] default_language",
        ),
        (f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[telegram]\n', {}, "not valid TOML"),
        (f'[telegram]\ntoken = "{GOOD_TOKEN}"\nrate_limit = 0\n', {}, "[telegram] rate_limit"),
        (
            f'[telegram]\ntoken = "{GOOD_TOKEN}"\n[database]\npool_size = 1\n',
            {},
            "[database] pool_size",
        ),
    ],
)
def test_mistakes_are_one_sentence(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ=environ)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert GOOD_TOKEN not in message


def test_missing_explicit_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    directory = tmp_path / "config.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(directory, environ={})


def test_cli_exits_2_with_one_line_for_a_missing_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = write(tmp_path, "")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("asa: No bot token")
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_cli_exits_2_for_an_unreachable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = write(
        tmp_path,
        f'[telegram]\ntoken = "{GOOD_TOKEN}"\n'
        '[database]\nurl = "postgresql+asyncpg://nobody@127.0.0.1:1/none"\n',
    )
    monkeypatch.setenv("BOT_TOKEN", GOOD_TOKEN)
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Cannot reach the database" in err
    assert len(err.splitlines()) == 1


def test_cli_refuses_an_unmigrated_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("BOT_TOKEN", GOOD_TOKEN)
    db = tmp_path / "empty.db"
    path = write(tmp_path, f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert "python -m bot migrate" in capsys.readouterr().err
    assert main(["migrate", "--config", str(path)]) == 0
    assert main(["check-config", "--config", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


def test_cli_rejects_a_foreign_database_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("BOT_TOKEN", GOOD_TOKEN)
    path = write(tmp_path, '[database]\nurl = "mysql://root@localhost/x"\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert "sqlite+aiosqlite" in capsys.readouterr().err


def test_the_example_configuration_is_valid_and_names_every_setting() -> None:
    """config.example.toml is where operators learn the settings: none may be missing."""
    import re
    import tomllib

    from bot.config import Settings

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    raw["telegram"]["token"] = "123456:EXAMPLE"
    Settings.model_validate(raw)
    missing = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert model is not None
        for key in model.model_fields:  # type: ignore[union-attr]
            # Set, or shown commented out (`# zones_file = ...`) where it has no default value.
            if not re.search(rf"^(# )?{key} = ", text, flags=re.MULTILINE):
                missing.append(f"[{section}] {key}")
    assert missing == []
