"""A minimal python-telegram-bot echo bot: the ceiling the framework sets for our bot.

It answers every text with the same text, with no database, no persistence and no rate
limiter, processing as many updates at once as asa does (`[bot] max_concurrent_updates`), so
the check-in benchmark can report asa's throughput as a share of what python-telegram-bot
itself reaches on the same fake server and machine.

    python -m bench.echo --base-url http://127.0.0.1:PORT/bot --token TOKEN
"""

from __future__ import annotations

import argparse
import sys

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.config import BotSettings

DEFAULT_CONCURRENCY = BotSettings().max_concurrent_updates


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the text back."""
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


def build_echo(*, base_url: str, token: str, concurrency: int) -> Application:  # type: ignore[type-arg]
    """The echo bot, polling `base_url`."""
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .concurrent_updates(concurrency)
        .connection_pool_size(max(8, concurrency // 4))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM, like the real bot."""
    parser = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    application = build_echo(base_url=args.base_url, token=args.token, concurrency=args.concurrency)
    application.run_polling(allowed_updates=Update.ALL_TYPES, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
