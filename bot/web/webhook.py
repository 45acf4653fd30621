"""The webhook endpoint: Telegram posts each update here; it is written down, then answered.

Telegram forgets an update once it gets a 2xx, and retries one that got anything else (or no
answer). So the answer is 200 only after the update is in the inbox table (committed); if the
database cannot take it, the answer is 503 and Telegram tries again later. A request without
the right `X-Telegram-Bot-Api-Secret-Token` header is refused (403) and logged without its
body; the path itself is derived from the secret, so it cannot be guessed either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.context import AsaApplication
from bot.usecases import inbox
from storage.database import Database, DatabaseUnavailable

_log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header name)
PATH_PREFIX = "/telegram/"
INTAKE_RETRY_SECONDS = 5.0


def webhook_path(secret_token: str) -> str:
    """The endpoint's path: unguessable without the secret, the same on every replica."""
    digest = hashlib.sha256(f"asa-webhook:{secret_token}".encode()).hexdigest()[:32]
    return f"{PATH_PREFIX}{digest}"


def webhook_url(application: AsaApplication) -> str:
    """The full address Telegram posts to."""
    telegram = application.runtime.settings.telegram
    return telegram.webhook_url + webhook_path(telegram.secret_token)


def webhook_route(application: AsaApplication) -> Route:
    """POST <webhook path>: check the secret, write the update down, answer 200."""
    runtime = application.runtime
    secret = runtime.settings.telegram.secret_token.encode()
    # Briefly: past this, 503 and Telegram delivers again later (it keeps the update).
    database = Database(runtime.sessions, retry_seconds=INTAKE_RETRY_SECONDS)

    async def receive(request: Request) -> Response:
        """One delivery from Telegram."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            _log.warning("webhook request refused: missing or wrong secret token")
            return Response(status_code=403)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            # Nothing to keep: a retry would not be better. Answered so Telegram moves on.
            _log.warning("webhook request without a readable update; dropped")
            return Response(status_code=200)
        try:
            new = await inbox.receive(
                database, payload=payload, now=runtime.clock.now(), receiver=runtime.instance
            )
        except DatabaseUnavailable:
            return Response(status_code=503)
        if new and application.inbox is not None:
            application.inbox.wake()
        return Response(status_code=200)

    return Route(webhook_path(runtime.settings.telegram.secret_token), receive, methods=["POST"])
