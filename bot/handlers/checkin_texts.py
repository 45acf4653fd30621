"""How check-in results and refusals read, shared by every feature that checks people in
(the commands, registration, walk-ins, the venue screen's buttons)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from bot.context import AsaContext
from bot.i18n.dates import format_datetime, format_time
from bot.services.checkins import CheckInResult
from bot.services.errors import DomainError


def _distance_text(context: AsaContext, metres: float) -> str:
    """A distance as people say it: metres to the nearest ten, else kilometres."""
    if not math.isfinite(metres):
        return context.t("checkin.distance.unknown")
    if metres < 1000:
        return context.t("checkin.distance.m", n=int(round(metres / 10.0) * 10))
    return context.t("checkin.distance.km", n=f"{metres / 1000:.1f}")


def error_text(context: AsaContext, error: DomainError) -> str:
    """A refusal in the person's language, with times and distances written for people."""
    tz, lang = context.settings.tz, context.lang
    values: dict[str, Any] = {}
    for name, value in error.values.items():
        if isinstance(value, datetime):
            short = name == "at"
            values[name] = (
                format_time(value, lang=lang, tz=tz)
                if short
                else format_datetime(value, lang=lang, tz=tz, style="short")
            )
        elif name == "distance_m" and isinstance(value, float | int):
            values[name] = _distance_text(context, float(value))
        else:
            values[name] = value
    return context.t(error.key, **values)


def success_text(context: AsaContext, result: CheckInResult) -> str:
    """The success message, with the event and the time."""
    at = format_time(result.checked_in_at, lang=context.lang, tz=context.settings.tz)
    key = "checkin.done_late" if result.late else "checkin.done"
    return context.t(key, title=result.event_title, at=at)
