"""What the health probes and /metrics read from the database (one attempt each)."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.usecases import transaction
from storage.models import Delivery, DeliveryStatus


@transaction
async def schema_revision(session: AsyncSession) -> str | None:
    """The migration the database is at (answering at all means it is reachable)."""
    connection = await session.connection()
    return await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision()
    )


@transaction
async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """Deliveries in the outbox by status (every status present, zero when none)."""
    rows = await session.exec(select(Delivery.status, func.count()).group_by(col(Delivery.status)))
    counts = dict.fromkeys((status.value for status in DeliveryStatus), 0)
    for status, count in rows.all():
        counts[str(status)] = int(count)
    return counts
