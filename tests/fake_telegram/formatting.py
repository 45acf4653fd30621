"""Telegram's text formatting: turn HTML / MarkdownV2 / Markdown into plain text and entities.

Strict where Telegram is strict (unbalanced tags, unescaped MarkdownV2 characters), because
those 400s are exactly the bugs end-to-end tests should catch. Offsets are UTF-16 code units.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .errors import ApiError, bad_request

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_HTML_START = re.compile(r"([a-zA-Z][a-zA-Z0-9-]*)(.*)", re.DOTALL)
_HTML_ATTR = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?""")

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
# Longest delimiters first: "__" is underline, greedily, as Telegram documents.
_MDV2_TOGGLES = (
    ("||", "spoiler"),
    ("__", "underline"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
)
_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of text[index], the unit of Telegram's parse error messages."""
    return len(text[:index].encode("utf-8"))


def parse_error(detail: str) -> ApiError:
    """The 400 Telegram answers for malformed markup."""
    return bad_request(f"can't parse entities: {detail}")


class _Builder:
    """Collects plain text and entities while a parser walks the source."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        """Append visible text."""
        self.parts.append(text)
        self.length += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        """Record an entity from `start` to here; Telegram drops empty ones."""
        if self.length > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.length - start, **extra}
            )

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        """The plain text and its entities in Telegram's order."""
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


def parse_formatted(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities for `text` under `parse_mode` (explicit entities win)."""
    if entities is not None:
        return text, _checked_entities(text, entities)
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


def _checked_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate explicit entities the way Telegram rejects impossible ones."""
    total = utf16_len(text)
    for entity in entities:
        if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
            raise bad_request("can't parse entities JSON object")
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request("can't parse entities JSON object")
        if offset < 0 or length <= 0 or offset + length > total:
            raise parse_error(f"entity beginning at UTF-16 offset {offset} is out of the text")
    return entities


# ----------------------------------------------------------------------------- HTML


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, str]]] = []  # (tag, start offset, attributes)
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            i = _html_tag(text, i, out, stack)
        elif char == "&":
            match = _HTML_ENTITY.match(text, i)
            # Telegram supports only these named entities; other "&" stay literal.
            out.add(html.unescape(match.group(0)) if match else "&")
            i = match.end() if match else i + 1
        else:
            out.add(char)
            i += 1
    if stack:
        raise parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_tag(
    text: str, i: int, out: _Builder, stack: list[tuple[str, int, dict[str, str]]]
) -> int:
    """Handle the tag starting at text[i]; returns the index after it."""
    end = text.find(">", i)
    if end == -1:
        raise parse_error(f"Unclosed start tag at byte offset {byte_offset(text, i)}")
    inner = text[i + 1 : end]
    if inner.startswith("/"):
        _html_end_tag(text, i, inner[1:].strip().lower(), out, stack)
        return end + 1
    match = _HTML_START.fullmatch(inner)
    name = match.group(1).lower() if match else ""
    if not match or name not in _HTML_TAGS:
        raise parse_error(f'Unsupported start tag "{name}" at byte offset {byte_offset(text, i)}')
    attributes = {
        key.lower(): html.unescape(next((v for v in values if v), ""))
        for key, *values in _HTML_ATTR.findall(match.group(2))
    }
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise parse_error(
            f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(text, i)}'
        )
    stack.append((name, out.length, attributes))
    return end + 1


def _html_end_tag(
    text: str,
    i: int,
    name: str,
    out: _Builder,
    stack: list[tuple[str, int, dict[str, str]]],
) -> None:
    """Close the innermost open tag, which must be `name`."""
    if not stack:
        raise parse_error(f"Unexpected end tag at byte offset {byte_offset(text, i)}")
    open_name, start, attributes = stack.pop()
    if open_name != name:
        raise parse_error(f'Can\'t find end tag corresponding to start tag "{open_name}"')
    kind = _HTML_TAGS[name]
    inside_pre = any(tag == "pre" for tag, _, _ in stack)
    if kind == "code" and inside_pre:
        # <pre><code class="language-x"> is one pre entity carrying a language.
        language = attributes.get("class", "").removeprefix("language-")
        if language:
            _set_pre_language(stack, language)
        return
    extra: dict[str, Any] = {}
    if kind == "text_link":
        extra["url"] = attributes.get("href", "")
    elif kind == "pre" and attributes.get("language"):
        extra["language"] = attributes["language"]
    elif kind == "custom_emoji":
        extra["custom_emoji_id"] = attributes.get("emoji-id", "")
    elif kind == "blockquote" and "expandable" in attributes:
        kind = "expandable_blockquote"
    out.entity(kind, start, **extra)


def _set_pre_language(stack: list[tuple[str, int, dict[str, str]]], language: str) -> None:
    """Give the innermost open <pre> the language of a nested <code>."""
    for _tag, _start, attributes in reversed(stack):
        if _tag == "pre":
            attributes["language"] = language
            return


# ----------------------------------------------------------------------------- MarkdownV2


class _MarkdownV2:
    """A single pass over MarkdownV2 source with a stack of open entities."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # (kind, start offset, source index)
        self.i = 0

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        """Run the parser."""
        while self.i < len(self.text):
            self._step()
        self._close_blockquote()
        if self.stack:
            kind, _, index = self.stack[-1]
            raise self._unclosed(kind, index)
        return self.out.result()

    def _step(self) -> None:
        """Consume one token."""
        text, i = self.text, self.i
        char = text[i]
        if char == "\\":
            self._escape()
        elif char == "`":
            self._code()
        elif char == "[" or text.startswith("![", i):
            self._open("custom_emoji" if char == "!" else "text_link", 2 if char == "!" else 1)
        elif char == "]" and self.stack and self.stack[-1][0] in ("text_link", "custom_emoji"):
            self._link_end()
        elif char == ">" and (i == 0 or text[i - 1] == "\n"):
            self._blockquote_line()
        elif char == "\n":
            self._newline()
        elif not self._toggle():
            if char in _MDV2_RESERVED:
                raise parse_error(
                    f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            self.out.add(char)
            self.i += 1

    def _escape(self) -> None:
        """A backslash makes any ASCII character ordinary."""
        nxt = self.text[self.i + 1 : self.i + 2]
        if nxt and 0 < ord(nxt) <= 126:
            self.out.add(nxt)
            self.i += 2
        else:
            self.out.add("\\")
            self.i += 1

    def _toggle(self) -> bool:
        """Open or close bold/italic/underline/strikethrough/spoiler; False if none here."""
        for delimiter, kind in _MDV2_TOGGLES:
            if self.text.startswith(delimiter, self.i):
                self._toggle_kind(kind, len(delimiter))
                return True
        return False

    def _toggle_kind(self, kind: str, width: int) -> None:
        """Close `kind` if it is open (it must be innermost), otherwise open it."""
        open_kinds = [k for k, _, _ in self.stack]
        if kind not in open_kinds:
            self._open(kind, width)
            return
        top_kind, start, index = self.stack[-1]
        if top_kind != kind:
            raise self._unclosed(top_kind, index)
        self.stack.pop()
        self.out.entity(kind, start)
        self.i += width

    def _open(self, kind: str, width: int) -> None:
        """Start an entity at the current position."""
        self.stack.append((kind, self.out.length, self.i))
        self.i += width

    def _link_end(self) -> None:
        """`](url)` closes a text link or custom emoji."""
        kind, start, index = self.stack.pop()
        if not self.text.startswith("(", self.i + 1):
            raise self._unclosed(kind, index)
        url, self.i = self._until(self.i + 2, ")", kind, index)
        if kind == "custom_emoji":
            emoji_id = url.split("id=", 1)[-1]
            self.out.entity(kind, start, custom_emoji_id=emoji_id)
        else:
            self.out.entity(kind, start, url=url)

    def _code(self) -> None:
        """Inline `code` or a ```pre``` block: everything inside is literal."""
        start, index = self.out.length, self.i
        if self.text.startswith("```", self.i):
            body, self.i = self._until(self.i + 3, "```", "pre", index)
            language, newline, rest = body.partition("\n")
            # A first line without spaces is the language, as in ```python.
            if newline and language and " " not in language:
                body = rest
            self.out.add(body)
            extra = {"language": language} if newline and language and " " not in language else {}
            self.out.entity("pre", start, **extra)
            return
        body, self.i = self._until(self.i + 1, "`", "code", index)
        self.out.add(body)
        self.out.entity("code", start)

    def _until(self, i: int, closer: str, kind: str, index: int) -> tuple[str, int]:
        """Read escaped content up to `closer`; returns it and the index after the closer."""
        chars: list[str] = []
        while i < len(self.text):
            if self.text[i] == "\\" and i + 1 < len(self.text):
                chars.append(self.text[i + 1])
                i += 2
            elif self.text.startswith(closer, i):
                return "".join(chars), i + len(closer)
            else:
                chars.append(self.text[i])
                i += 1
        raise self._unclosed(kind, index)

    def _blockquote_line(self) -> None:
        """A line starting with ">" is (part of) a block quote."""
        if not any(kind == "blockquote" for kind, _, _ in self.stack):
            self.stack.append(("blockquote", self.out.length, self.i))
        self.i += 1

    def _newline(self) -> None:
        """End a block quote when the next line does not continue it."""
        if not self.text.startswith(">", self.i + 1):
            self._close_blockquote()
        self.out.add("\n")
        self.i += 1

    def _close_blockquote(self) -> None:
        """Close an open block quote (it must be innermost)."""
        if not self.stack or not any(kind == "blockquote" for kind, _, _ in self.stack):
            return
        kind, start, index = self.stack.pop()
        if kind != "blockquote":
            raise self._unclosed(kind, index)
        self.out.entity("blockquote", start)

    def _unclosed(self, kind: str, index: int) -> ApiError:
        """Telegram's error for an entity that never ends."""
        name = _ENTITY_NAMES.get(kind, kind)
        return parse_error(
            f"Can't find end of {name} entity at byte offset {byte_offset(self.text, index)}"
        )


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2."""
    return _MarkdownV2(text).parse()


# ----------------------------------------------------------------------------- legacy Markdown

_LEGACY_DELIMITERS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown: no nesting, escapes only before _*`[."""
    out = _Builder()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("_", "*", "`", "["):
            out.add(text[i + 1])
            i += 2
        elif text.startswith("```", i):
            i = _legacy_span(text, i, "```", "pre", out)
        elif char in _LEGACY_DELIMITERS:
            i = _legacy_span(text, i, char, _LEGACY_DELIMITERS[char], out)
        elif char == "[" and (link := _legacy_link(text, i)) is not None:
            label, url, i_next = link
            start = out.length
            out.add(label)
            out.entity("text_link", start, url=url)
            i = i_next
        else:
            out.add(char)
            i += 1
    return out.result()


def _legacy_span(text: str, i: int, delimiter: str, kind: str, out: _Builder) -> int:
    """A delimited legacy Markdown entity; returns the index after its end."""
    close = text.find(delimiter, i + len(delimiter))
    if close == -1:
        raise parse_error(
            f"Can't find end of the entity starting at byte offset {byte_offset(text, i)}"
        )
    start = out.length
    out.add(text[i + len(delimiter) : close])
    out.entity(kind, start)
    return close + len(delimiter)


def _legacy_link(text: str, i: int) -> tuple[str, str, int] | None:
    """`[label](url)` at text[i], or None when it is not a link."""
    match = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(text, i)
    if not match:
        return None
    return match.group(1), match.group(2), match.end()
