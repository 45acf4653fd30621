"""A typed CallbackContext: handlers get the actor, the database, the clock and a translator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from telegram.ext import Application, CallbackContext, ExtBot, Job

from bot.i18n import Translator, normalise_language, translator
from bot.scope import Actor

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.intake import InboxWorker
    from bot.lastseen import LastSeen
    from bot.runtime import Runtime
    from bot.update_processor import PerPersonUpdateProcessor
    from storage.database import Database

UserData = dict[Any, Any]
ChatData = dict[Any, Any]
BotData = dict[Any, Any]


class AsaApplication(Application[ExtBot[None], "AsaContext", UserData, ChatData, BotData, Any]):
    """The Application, carrying our runtime (state lives in the database, not in PTB's dicts)."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        processor: PerPersonUpdateProcessor,
        last_seen: LastSeen,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.processor = processor
        self.last_seen = last_seen
        # Webhook mode's worker (bot/intake.py); None while polling.
        self.inbox: InboxWorker | None = None

    def _mark_for_persistence_update(
        self, *, update: object | None = None, job: Job[Any] | None = None
    ) -> None:
        """Note nothing for a persistence round when there is no persistence.

        python-telegram-bot adds every update's chat id and user id to two sets that only a
        persistence round empties, and asa runs without one, so the sets held everyone who ever
        wrote: 150 KiB per 1,000 people, the whole of the growth `bench people` measured.
        (A persistence that stores nothing is no cure: its round reads `chat_data[id]` for each
        id, which creates an entry per person, and it stalls the event loop.)
        `tests/e2e/test_forgetting.py` fails if this stops applying.
        """
        if self.persistence is not None:
            super()._mark_for_persistence_update(update=update, job=job)


class AsaContext(CallbackContext[ExtBot[None], UserData, ChatData, BotData]):
    """What every handler receives."""

    # Set once per update by the scope guard (bot/handlers/scope.py) before any handler runs.
    _actor: Actor | None = None

    @property
    def app(self) -> AsaApplication:
        """The application, typed as ours."""
        return cast(AsaApplication, self.application)

    @property
    def runtime(self) -> Runtime:
        """The long-lived objects of this bot."""
        return self.app.runtime

    @property
    def settings(self) -> Settings:
        """The validated configuration."""
        return self.runtime.settings

    @property
    def db(self) -> Database:
        """Where use cases run their transactions: `await use_case(context.db, ...)`."""
        return self.runtime.db

    @property
    def clock(self) -> Clock:
        """The current time (controllable in tests)."""
        return self.runtime.clock

    @property
    def actor(self) -> Actor:
        """Who sent this update (resolved once, before any handler)."""
        if self._actor is None:
            raise RuntimeError("no actor: the scope guard did not run for this update")
        return self._actor

    @actor.setter
    def actor(self, actor: Actor) -> None:
        self._actor = actor

    @property
    def has_actor(self) -> bool:
        """Whether this context belongs to an update with a resolved sender (not a job)."""
        return self._actor is not None

    @property
    def lang(self) -> str:
        """This person's language: what they chose, else the deployment's default."""
        default = self.settings.bot.default_language
        if self._actor is not None:
            return self._actor.lang
        return default

    def set_lang(self, lang: str) -> None:
        """Use this person's new language for the rest of this update (it is saved by then)."""
        lang = normalise_language(lang)
        if self._actor is not None:
            from dataclasses import replace

            self._actor = replace(self._actor, lang=lang, language_chosen=True)

    @property
    def t(self) -> Translator:
        """The translator for this person."""
        return translator(self.lang)
