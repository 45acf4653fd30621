"""PostgreSQL: check-ins tell the live screens themselves (a statement trigger on checkin)

Every INSERT into checkin sends NOTIFY asa_live '<event id>' once per event at commit, so
the check-in's own transaction needs no NOTIFY statement (storage/models.py says why). SQLite
has no NOTIFY: one process, told in-process after the commit (bot/services/live.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from the models: a migration is a snapshot of its day.
# tests/unit/test_migrations.py proves it builds the trigger the models build.
CREATE = (
    """CREATE OR REPLACE FUNCTION asa_checkin_tells_live() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('asa_live', event_id::text)
    FROM (SELECT DISTINCT event_id FROM inserted) AS events;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER checkin_tells_live AFTER INSERT ON checkin
REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
EXECUTE FUNCTION asa_checkin_tells_live()""",
)
DROP = (
    "DROP TRIGGER IF EXISTS checkin_tells_live ON checkin",
    "DROP FUNCTION IF EXISTS asa_checkin_tells_live()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in CREATE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DROP:
        op.execute(statement)
