"""Who sent an update, resolved once per update: the actor every handler and use case sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.services.access import NOBODY, Access


@dataclass(frozen=True)
class FlowState:
    """The flow a person is in, as its row says at the start of this update."""

    name: str
    step: str
    nonce: str
    draft: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class Actor:
    """The sender of one update: their record (if registered), rights, language and flow."""

    telegram_id: int
    person_id: int | None = None
    name: str | None = None
    lang: str = "th"
    # Whether the person chose their language (else it is the deployment's default).
    language_chosen: bool = False
    access: Access = NOBODY
    flow: FlowState | None = None
    # A flow that had timed out when this update arrived (it is gone now); said once.
    expired_flow: str | None = None
    # Extra facts a family's scope hook wants to carry (kept small; plain values only).
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        """Whether the person has a registered record."""
        return self.person_id is not None

    def zone_limit(self) -> frozenset[int] | None:
        """None when the person sees every zone, else the zones they are limited to."""
        return self.access.zone_limit()
