"""Typed access to the parts of an update a handler's filters guarantee are there."""

from __future__ import annotations

from telegram import CallbackQuery, Message, Update, User


class UnexpectedUpdate(RuntimeError):
    """A handler received an update its filters should have kept away."""


def message_of(update: Update) -> Message:
    """The message this update carries (new or edited)."""
    if update.effective_message is None:
        raise UnexpectedUpdate("update has no message")
    return update.effective_message


def user_of(update: Update) -> User:
    """The person who sent this update."""
    if update.effective_user is None:
        raise UnexpectedUpdate("update has no user")
    return update.effective_user


def trailing_id(data: str) -> int | None:
    """The record id at the end of button data such as "ev:open:12"; None if it is not one."""
    tail = data.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) < 12 else None


def query_of(update: Update) -> tuple[CallbackQuery, str]:
    """The pressed button and its data."""
    query = update.callback_query
    if query is None or query.data is None:
        raise UnexpectedUpdate("update has no callback data")
    return query, query.data
