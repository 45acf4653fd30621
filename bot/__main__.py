"""Command line: python -m bot [run | migrate | check-config] [--config PATH]."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.log import configure_logging
from storage.database import DatabaseError, check_connection, create_engine
from storage.migrate import SchemaOutOfDate, ensure_current, upgrade

EXIT_CONFIG = 2
_log = logging.getLogger("bot")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command and its options."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "migrate", "check-config"],
        help="run the bot (default), upgrade the database schema, or only validate the config",
    )
    parser.add_argument(
        "--config", help="path to config.toml (default: $ASA_CONFIG or ./config.toml)"
    )
    return parser.parse_args(argv)


async def _migrate(settings: Settings) -> None:
    """Create or upgrade the schema."""
    engine = create_engine(settings.database.url)
    try:
        await check_connection(engine)
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _preflight(settings: Settings) -> None:
    """Database reachable and schema current, or a clear refusal."""
    engine = create_engine(settings.database.url)
    try:
        await check_connection(engine)
        await ensure_current(engine)
    finally:
        await engine.dispose()


def _load_reference_data(settings: Settings) -> None:
    """Check the district and zone files now, not at the first registration."""
    from bot.data.districts import load_geography

    load_geography(zones_file=settings.bot.zones_file)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen command; configuration problems exit 2 with one sentence."""
    args = parse_args(argv)
    configure_logging()
    try:
        settings = load_settings(args.config, require_token=args.command != "migrate")
        _load_reference_data(settings)
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("Database schema is up to date.")
            return 0
        asyncio.run(_preflight(settings))
        if args.command == "check-config":
            print("Configuration is valid and the database is ready.")
            return 0
    except (ConfigError, DatabaseError, SchemaOutOfDate) as error:
        print(f"asa: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as error:  # reference data errors and the like: still one sentence
        from bot.data.districts import DataFileError

        if isinstance(error, DataFileError):
            print(f"asa: {error}", file=sys.stderr)
            return EXIT_CONFIG
        raise
    return _run(settings)


def _run(settings: Settings) -> int:
    """Run the bot and its web side until SIGTERM or SIGINT."""
    from bot.app import build_application, serve
    from bot.web.server import WebListenError
    from storage.database import single_process

    _log.info("starting asa")
    try:
        with single_process(settings.database.url):
            asyncio.run(serve(build_application(settings)))
    except (WebListenError, DatabaseError) as error:
        print(f"asa: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
