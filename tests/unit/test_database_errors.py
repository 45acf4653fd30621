"""What the retry log says about a database error: enough for an operator, nothing personal."""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError

from storage.database import describe


class FakePgError(Exception):
    """asyncpg's errors carry the SQLSTATE."""

    sqlstate = "53300"


def test_a_postgresql_error_is_named_with_its_sqlstate_not_its_message() -> None:
    error = DBAPIError("INSERT INTO person (name) VALUES ($1)", {"name": "สมหญิง"}, FakePgError())
    assert describe(error) == "DBAPIError 53300"


def test_a_refused_connection_is_named_with_its_os_error() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert describe(refused) == "ConnectionRefusedError ECONNREFUSED"


def test_anything_else_is_just_its_class() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
