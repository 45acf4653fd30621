"""A typed CallbackContext: handlers get settings, sessions, the clock and a translator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from telegram.ext import Application, CallbackContext, ExtBot

from bot.i18n import Translator, normalise_language, translator

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.runtime import Runtime
    from storage.database import SessionFactory

UserData = dict[Any, Any]
ChatData = dict[Any, Any]
BotData = dict[Any, Any]

LANGUAGE_KEY = "lang"


class AsaApplication(Application[ExtBot[None], "AsaContext", UserData, ChatData, BotData, Any]):
    """The Application, carrying our runtime (kept out of bot_data and persistence)."""

    def __init__(self, *, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime


class AsaContext(CallbackContext[ExtBot[None], UserData, ChatData, BotData]):
    """What every handler receives."""

    @property
    def app(self) -> AsaApplication:
        """The application, typed as ours."""
        return cast(AsaApplication, self.application)

    @property
    def runtime(self) -> Runtime:
        """The long-lived objects of this bot."""
        return cast(AsaApplication, self.application).runtime

    @property
    def settings(self) -> Settings:
        """The validated configuration."""
        return self.runtime.settings

    @property
    def sessions(self) -> SessionFactory:
        """Open one with `async with context.sessions() as session:`."""
        return self.runtime.sessions

    @property
    def clock(self) -> Clock:
        """The current time (controllable in tests)."""
        return self.runtime.clock

    @property
    def lang(self) -> str:
        """This person's language: what they chose, else the deployment's default."""
        default = self.settings.bot.default_language
        if self.user_data is None:
            return default
        return normalise_language(self.user_data.get(LANGUAGE_KEY), default)

    def set_lang(self, lang: str) -> None:
        """Remember this person's language (persisted with their user data)."""
        if self.user_data is not None:
            self.user_data[LANGUAGE_KEY] = normalise_language(lang)

    @property
    def t(self) -> Translator:
        """The translator for this person."""
        return translator(self.lang)
