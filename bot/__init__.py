"""asa (อาสา): a Telegram bot that runs volunteer events end to end."""

import os

__version__ = "0.1.0"

# python-telegram-bot 22 otherwise builds every RetryAfter through a deprecated float property
# and logs a deprecation warning for each 429; we read retry_after as a timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "true")
