"""Text as people read it, shared by the adapters, the merge and the publishers: HTML turned into
the lines a reader sees, and the words senders put before a subject ("Re:", "Reminder:",
"Cancelled:") that say something about a message but are not its title."""

from __future__ import annotations

import re

MAX_HTML = 1_000_000  # characters of HTML read at most: bounds the parse of a huge or hostile body

_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")
_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote", "section", "article")
_BLOCK_NAMES = frozenset(_BLOCKS)
_HIDDEN = frozenset(("script", "style", "head", "title"))
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_NEWLINE = re.compile(r"[ \t]*\r?\n[ \t\r\n]*")


# Text whose only tags are line breaks (what list archives and feeds mostly send) is read without a
# parser, to the very text the parse below gives; any other entity or a stray "<" takes the parse.
_BREAK = re.compile(r"<br\s*/?>", re.I)
_ENTITY = re.compile(r"&(?:(amp|lt|gt|quot|nbsp)|#(\d{1,5})|#x([0-9a-fA-F]{1,4}));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "nbsp": "\u00a0"}
_OTHER_AMPERSAND = re.compile(r"&(?!\s)")


def _entity(m: re.Match) -> str:
    return _NAMED[m.group(1)] if m.group(1) else chr(int(m.group(2)) if m.group(2) else int(m.group(3), 16))


def _lines_between_breaks(pieces: list[str]) -> str | None:
    """The text of the pieces between <br> tags; None when an entity asks for the parser.
    (Each substitution runs only where it can change something: most lines need none.)"""
    for i, piece in enumerate(pieces):
        if "&" in piece:
            if _OTHER_AMPERSAND.search(_ENTITY.sub("", piece)):
                return None
            codes = [int(a or b, 16 if b else 10) for _, a, b in _ENTITY.findall(piece) if a or b]
            if any(not 0 < c < 0x80 and not (0xA0 <= c < 0xD800 or 0xE000 <= c < 0x110000) for c in codes):
                return None  # NUL and 128-159 (read as windows-1252) are the parser's to map
            piece = _ENTITY.sub(_entity, piece)
        pieces[i] = _NEWLINE.sub(" ", piece) if "\n" in piece else piece
    text = "\n".join(pieces)
    if "\r" in text:
        text = text.replace("\r", "")
    lines = [(_SPACES.sub(" ", line) if "  " in line or "\t" in line or "\u00a0" in line else line).strip()
             for line in text.split("\n")]
    text = "\n".join(lines)
    return (_BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text).strip()


def looks_like_html(text: str | None) -> bool:
    return bool(text) and _TAG.search(text) is not None


def html_to_text(html: str | None) -> str:
    """HTML as the lines a reader sees: blocks and <br> become line breaks, scripts, styles and the
    head dropped, entities decoded, spaces tidied, no more than one blank line in a row. Text that
    holds no tag is returned as it is."""
    if not html or not looks_like_html(html):
        return html or ""
    if len(html) < MAX_HTML:
        pieces = _BREAK.split(html)
        if not any("<" in piece for piece in pieces):
            text = _lines_between_breaks(pieces)
            if text is not None:
                return text
    from bs4 import BeautifulSoup, NavigableString, Tag  # here: most text handed to us is plain

    soup = BeautifulSoup(html[:MAX_HTML], "html.parser")
    # One walk over the elements rather than a find_all per kind (each walks the whole tree): the
    # hidden ones go first, then each line break and block gets its "\n" (independent edits).
    nodes = list(soup.descendants)
    tags = [el for el in nodes if isinstance(el, Tag)]
    hidden = [el for el in tags if el.name in _HIDDEN]
    if hidden:
        for bad in hidden:
            bad.decompose()
        nodes = list(soup.descendants)
        tags = [el for el in nodes if isinstance(el, Tag)]
    # A line break in the source is a space on the page ("Date: Sat, May 23<br/>\nTime: 9 am" is two
    # lines, not two paragraphs); only <pre> keeps its lines.
    for node in nodes:
        if type(node) is NavigableString and "\n" in node and not any(
                parent.name in ("pre", "textarea") for parent in node.parents):
            node.replace_with(_NEWLINE.sub(" ", node))
    for el in tags:
        if el.name == "br":
            el.replace_with("\n")
        elif el.name in _BLOCK_NAMES:
            el.insert_after("\n")
            if el.name == "blockquote":
                el.insert_before("\n")
    text = soup.get_text()
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# The words a sender puts before a subject to say what kind of message it is, not what it is about:
# one vocabulary for the mail reader (sources/parse/prose) and the merge's title keys (merge/dedupe).
REPLY_MARKERS = r"re|aw|sv|fwd?|fw|tr|wg"  # reply and forward, as mail clients write them in several languages
CANCEL_WORDS = r"cancel+ed|cancel+ation|canceled|cancelled|called\s+off|postponed"
NOTICE_WORDS = (r"(?:friendly\s+)?reminders?|last\s+call|last\s+chance|updated?|correction|change|new\s+date"
                r"|rescheduled|save\s+the\s+date|announcement|announcing|announce|just\s+announced|invitation|invite"
                r"|new\s+event|tonight|today|tomorrow|this\s+week(?:end)?|don'?t\s+forget|new|event")
