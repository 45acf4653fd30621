"""The reference bots: bare python-telegram-bot, against which asa's figures are read.

Echo: answers every text with the same text, with no database, no persistence and no rate
limiter. That is the ceiling the framework sets.

Echo plus one INSERT (`--database-url`): the same, but first writes one row per update into
the given database and commits, through SQLAlchemy async and the same engine settings asa
ships with (`storage.database.create_engine`: on SQLite WAL, synchronous=NORMAL and one pooled
connection; on PostgreSQL asa's pool). That is the least any bot that records a check-in must
pay, so asa's distance from it is the cost of its own logic and framework, not the database's.

Both process as many updates at once as asa does (`[bot] max_concurrent_updates`) and run in
the same interpreter, flags and environment as asa (bench/process.py).

    python -m bench.echo --base-url http://127.0.0.1:PORT/bot --token TOKEN [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.config import BotSettings

DEFAULT_CONCURRENCY = BotSettings().max_concurrent_updates
REPLY_TABLE = "bench_reply"  # the INSERT bot's one table, a row per update

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
Hook = Callable[[Application[Any, Any, Any, Any, Any, Any]], Coroutine[Any, Any, None]]


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the text back."""
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


def insert_then_echo(database_url: str) -> tuple[Callback, Hook, Hook]:
    """The INSERT bot's callback and its post_init and post_shutdown hooks.

    SQLAlchemy is imported only here, so the plain echo bot's memory stays that of PTB alone.
    """
    from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, insert

    from storage.database import create_engine

    metadata = MetaData()
    replies = Table(
        REPLY_TABLE,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("update_id", BigInteger, nullable=False),
        Column("chat_id", BigInteger, nullable=False),
        Column("text", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    engine = create_engine(database_url)

    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Record the update in one committed INSERT, then send the text back."""
        message = update.effective_message
        if message is None or not message.text:
            return
        async with engine.begin() as connection:
            await connection.execute(
                insert(replies).values(
                    update_id=update.update_id,
                    chat_id=message.chat_id,
                    text=message.text,
                    received_at=datetime.now(UTC),
                )
            )
        await message.reply_text(message.text)

    async def create_table(_application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Create the one table (post_init)."""
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def dispose(_application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Close the engine's connections (post_shutdown)."""
        await engine.dispose()

    return callback, create_table, dispose


def build_echo(
    *, base_url: str, token: str, concurrency: int, database_url: str | None = None
) -> Application:  # type: ignore[type-arg]
    """The echo bot, polling `base_url`; with `database_url`, one INSERT per update first."""
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .concurrent_updates(concurrency)
        .connection_pool_size(max(8, concurrency // 4))
    )
    callback: Callback = echo
    if database_url is not None:
        callback, create_table, dispose = insert_then_echo(database_url)
        builder = builder.post_init(create_table).post_shutdown(dispose)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, callback))
    return application


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM, like the real bot."""
    parser = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--database-url", help="insert one row per update here before replying")
    args = parser.parse_args(argv)
    application = build_echo(
        base_url=args.base_url,
        token=args.token,
        concurrency=args.concurrency,
        database_url=args.database_url,
    )
    application.run_polling(allowed_updates=Update.ALL_TYPES, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
