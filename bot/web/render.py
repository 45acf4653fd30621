"""Server-rendered pages: Jinja2 templates, the person's translator, Thai dates, QR codes."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.i18n import translator
from bot.i18n.dates import format_date, format_datetime, format_time, format_time_range
from bot.i18n.terms import group

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, *, lang: str, tz: ZoneInfo, **values: Any) -> str:
    """A template, in a language, with the helpers every page uses."""
    t = translator(lang)
    return _environment.get_template(name).render(
        t=t,
        lang=t.lang,
        date=lambda at, style="long": format_date(at, lang=t.lang, tz=tz, style=style),
        time=lambda at: format_time(at, lang=t.lang, tz=tz),
        datetime=lambda at, style="short": format_datetime(at, lang=t.lang, tz=tz, style=style),
        time_range=lambda a, b: format_time_range(a, b, lang=t.lang, tz=tz),
        group_key=group,
        **values,
    )


@lru_cache(maxsize=64)
def qr_svg(data: str) -> str:
    """A QR code as inline SVG, black on white with its quiet zone, scaling to its box."""
    code = segno.make_qr(data, error="m")
    buffer = io.BytesIO()
    code.save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        scale=1,
        border=4,
        omitsize=True,
        dark="#000",
        light="#fff",
        svgclass="qr",
        title="QR",
    )
    return buffer.getvalue().decode()
