"""Domain errors raised by services; handlers turn them into replies."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no; `key` names the message a person should see."""

    key = "error.generic"

    def __init__(self, detail: str = "", **values: object) -> None:
        super().__init__(detail or self.key)
        self.values = values


class NotFound(DomainError):
    """The thing asked for does not exist (or is not visible to this person)."""

    key = "error.not_found"


class NotAllowed(DomainError):
    """This person may not do this."""

    key = "error.not_allowed"


class NotRegistered(DomainError):
    """The person has not registered yet."""

    key = "error.not_registered"
