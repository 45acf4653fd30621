"""Bot API error answers, raised inside method handlers and turned into JSON by the server."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status, Telegram's description and an optional retry_after."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 answer worded like Telegram's ("Bad Request: ...")."""
    return ApiError(400, f"Bad Request: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    """A 429 flood-control answer."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def forbidden_blocked() -> ApiError:
    """The 403 Telegram gives when the user has blocked the bot."""
    return ApiError(403, "Forbidden: bot was blocked by the user")


def chat_not_found() -> ApiError:
    """The 400 Telegram gives for a chat the bot has never seen."""
    return bad_request("chat not found")
