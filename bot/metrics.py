"""Prometheus metrics of this process, served at GET /metrics (bot/web/health.py).

Counters and the histogram live in one registry per process (`REGISTRY`), fed by small hooks:
the update queue and processor (updates), the Telegram request (errors), the check-in use
cases (check-ins, counted after their transaction committed). Figures that belong to the whole
deployment rather than this process (the outbox) are read from the database at scrape time.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from telegram import Update

# A "_created" timestamp beside every counter only doubles the scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_RECEIVED = Counter(
    "asa_updates_received",
    "Updates taken from Telegram and queued, by type.",
    ["type"],
    registry=REGISTRY,
)
UPDATES_PROCESSED = Counter(
    "asa_updates_processed",
    "Updates every handler has finished with (dropped floods excluded), by type.",
    ["type"],
    registry=REGISTRY,
)
UPDATES_DROPPED = Counter(
    "asa_updates_dropped",
    "Updates dropped unseen by flood control.",
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "asa_update_handling_seconds",
    "Time from an update's turn (its person's lock and a slot taken) to its last handler's end.",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
CHECKINS = Counter(
    "asa_checkins",
    "Check-ins recorded by this process, by method (qr, code, location, staff, walkin).",
    ["method"],
    registry=REGISTRY,
)
TELEGRAM_ERRORS = Counter(
    "asa_telegram_errors",
    'Bot API requests that failed, by kind: "429" (flood control), another HTTP status, '
    'or "network" (no answer).',
    ["kind"],
    registry=REGISTRY,
)
OUTBOX = Gauge(
    "asa_outbox_deliveries",
    "Outbox deliveries by status, read from the database at scrape time (whole deployment).",
    ["status"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "asa_leader",
    "1 when this process is the one that sends the outbox and fires reminders.",
    registry=REGISTRY,
)
SCREENS_OPEN = Gauge(
    "asa_screen_streams",
    "Venue screens and dashboards connected to this process for live updates.",
    registry=REGISTRY,
)

# Set by the election among replicas (bot/leader.py, wired in bot/app.py).
LEADER.set(0)

_UPDATE_FIELDS = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "inline_query",
    "channel_post",
    "edited_channel_post",
    "chat_join_request",
    "pre_checkout_query",
    "shipping_query",
    "poll",
    "poll_answer",
    "message_reaction",
    "business_message",
)


def update_type(update: object) -> str:
    """ "message", "callback_query", ... for an Update; "other" for anything else."""
    if not isinstance(update, Update):
        return "other"
    for name in _UPDATE_FIELDS:
        if getattr(update, name, None) is not None:
            return name
    return "other"


def telegram_error_kind(status: int) -> str | None:
    """The error label of an HTTP status from the Bot API; None for a success."""
    if 200 <= status < 300:
        return None
    return str(status)
