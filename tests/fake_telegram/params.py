"""Reading Bot API parameters the way Telegram accepts them: query, form, multipart or JSON."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aiohttp import BodyPartReader, web

from .errors import bad_request
from .models import UploadedFile

# Fields whose form value is a JSON document (PTB json.dumps them; everything else is a string).
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "menu_button",
        "media",
        "rights",
    }
)
_TRUE = frozenset({"true", "1", "yes"})


class Params:
    """The string fields and uploaded files of one request, with typed getters."""

    def __init__(self, fields: dict[str, str], files: dict[str, UploadedFile]) -> None:
        self.fields = fields
        self.files = files

    def __contains__(self, name: str) -> bool:
        return name in self.fields or name in self.files

    def text(self, name: str) -> str | None:
        """A string field, None when absent."""
        return self.fields.get(name)

    def integer(self, name: str) -> int | None:
        """An integer field, None when absent."""
        value = self.fields.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        """A numeric field, None when absent."""
        value = self.fields.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        """A boolean field; absent means False."""
        return self.fields.get(name, "").strip().lower() in _TRUE

    def json(self, name: str) -> Any:
        """A JSON field decoded, None when absent."""
        value = self.fields.get(name)
        if value is None or value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def decoded(self) -> dict[str, Any]:
        """All fields, JSON ones decoded where possible, for the call log."""
        result: dict[str, Any] = {}
        for name, value in self.fields.items():
            result[name] = value
            # A malformed value stays a raw string; the handler rejects it.
            if name in JSON_FIELDS:
                with contextlib.suppress(ValueError):
                    result[name] = json.loads(value)
        return result


async def read_params(request: web.Request) -> Params:
    """Collect parameters from the query string and whatever body encoding was used."""
    fields: dict[str, str] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type.startswith("multipart/"):
        await _read_multipart(request, fields, files)
    elif request.content_type == "application/json" and request.can_read_body:
        body = await request.json()
        if isinstance(body, dict):
            fields.update(_stringify(body))
    elif request.can_read_body:
        form = await request.post()
        fields.update({key: value for key, value in form.items() if isinstance(value, str)})
    return Params(fields, files)


def _stringify(body: dict[str, Any]) -> dict[str, str]:
    """JSON bodies carry typed values; store them the way form bodies would."""
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in body.items()
        if value is not None
    }


async def _read_multipart(
    request: web.Request, fields: dict[str, str], files: dict[str, UploadedFile]
) -> None:
    """Split a multipart body into text fields and file parts."""
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is None:
            fields[part.name] = await part.text()
            continue
        data = bytes(await part.read(decode=True))
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        files[part.name] = UploadedFile(part.filename, data, content_type)
