"""Translations: gettext catalogs (Thai and English) compiled in memory with Babel.

Message ids are stable keys such as ``"start.greeting"``; placeholders use ``str.format`` names.
Each family of handlers keeps its own catalog file (``locale/<lang>/LC_MESSAGES/<family>.po``),
and every file of a language is merged into one catalog at start-up, so nothing has to be
compiled by hand and a ``.mo`` file can never be stale.
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("th", "en")
DEFAULT_LANGUAGE = "th"

_log = logging.getLogger(__name__)


def catalog_files(lang: str) -> list[Path]:
    """The .po files of one language, in a stable order."""
    return sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))


def load_catalog(lang: str) -> Catalog:
    """Every .po file of one language merged into one Babel catalog."""
    merged = Catalog(locale=lang, domain="asa")
    for path in catalog_files(lang):
        with path.open("rb") as handle:
            part = read_po(handle, locale=lang)
        for message in part:
            if message.id:
                merged[message.id] = message
    return merged


@cache
def _translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog for a language (compiled once per process)."""
    buffer = io.BytesIO()
    write_mo(buffer, load_catalog(lang))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def normalise_language(code: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """'en-GB' -> 'en'; anything we do not speak -> the default."""
    if not code:
        return default
    short = code.split("-")[0].split("_")[0].lower()
    return short if short in LANGUAGES else default


class Translator:
    """Turns message keys into text in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = normalise_language(lang)
        self._catalog = _translations(self.lang)

    def __call__(self, key: str, /, **values: object) -> str:
        """The text for `key`, with `values` filled in."""
        text = self._catalog.gettext(key)
        if text == key:
            _log.warning("missing translation %s for %s", key, self.lang)
        return _fill(text, values) if values else text

    def plural(self, key: str, count: int, /, **values: object) -> str:
        """The singular or plural text for `count` (msgid `key`, msgid_plural `key.plural`)."""
        text = self._catalog.ngettext(key, f"{key}.plural", count)
        return _fill(text, {"count": count, **values})

    def has(self, key: str) -> bool:
        """Whether the catalog has a text for `key`."""
        return self._catalog.gettext(key) != key


def _fill(text: str, values: Mapping[str, object]) -> str:
    """str.format, but a translator's typo in a placeholder never crashes a handler."""
    try:
        return text.format_map(values)
    except (KeyError, IndexError, ValueError):
        _log.exception("bad placeholder in translation %r", text[:40])
        return text


@cache
def translator(lang: str) -> Translator:
    """A shared translator per language."""
    return Translator(lang)
