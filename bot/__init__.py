"""asa (อาสา): a Telegram bot that runs volunteer events end to end."""

__version__ = "0.1.0"
