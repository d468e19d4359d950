"""A page parsed once by lxml and read exactly as BeautifulSoup(text, "lxml") reads it, at a fraction
of the cost: the tree (the same libxml2 parser fed the same text), CSS selections (cssselect's XPath,
only for the selector forms whose matching is the same as soupsieve's), get_text(" ", strip=True),
attribute values and decode_contents().

Whatever cannot be shown to read the same raises Unsure, and the caller reads the page with
BeautifulSoup as before: a selector outside the forms below, a class attribute split by a space
XPath does not know, markup after </html>, markup whose bs4 rendering has rules of its own (<pre>,
<meta>, processing instructions). Pure functions; no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache

import lxml.etree
from bs4 import BeautifulSoup
from bs4.builder import HTMLTreeBuilder
from bs4.dammit import EntitySubstitution
from cssselect import HTMLTranslator
from cssselect import parser as css

__all__ = ["Unsure", "parse", "select", "select_in", "can_select", "text", "attr", "first_link", "decode_contents",
           "decode", "fragment_text", "lines"]


class Unsure(Exception):
    """This page or selector is read by BeautifulSoup instead (the readings could differ)."""


# bs4's own tables, so the two readings cannot drift apart with a bs4 release.
_STRING_CONTAINERS = frozenset(HTMLTreeBuilder.DEFAULT_STRING_CONTAINERS)  # their strings are no text
_VOID = frozenset(HTMLTreeBuilder.DEFAULT_EMPTY_ELEMENT_TAGS or ())
_LIST_ATTRS = HTMLTreeBuilder.DEFAULT_CDATA_LIST_ATTRIBUTES  # class="a b": split on whitespace, rejoined
_PRESERVE = frozenset(HTMLTreeBuilder.DEFAULT_PRESERVE_WHITESPACE_TAGS)
_RAW_TEXT = frozenset(("script", "style"))  # bs4's HTML formatter writes their strings unescaped
_ASCII_SPACES = BeautifulSoup.ASCII_SPACES  # a string of only these is kept as one space or newline
_TEXT = lxml.etree.XPath("descendant::text()[not(ancestor::" + " or ancestor::".join(sorted(_STRING_CONTAINERS))
                         + ")]")
_NONSPACE = re.compile(r"\S+")  # bs4.element.nonwhitespace_re
# A space str.split() knows and XPath's normalize-space() does not (cssselect matches classes with it).
_ODD_SPACE = re.compile(r"[^\S \t\r\n]")
_BR = re.compile(r"<br\s*/?>", re.I)
_TRANSLATOR = HTMLTranslator()


def parse(page_text: str):
    """The root element, built as BeautifulSoup's lxml tree builder builds its tree: the text (without
    a byte-order mark) fed at once to libxml2's HTML parser in recover mode."""
    if page_text[:1] == "\ufeff":
        page_text = page_text[1:]
    parser = lxml.etree.HTMLParser(recover=True)
    try:
        parser.feed(page_text)
        root = parser.close()
    except (lxml.etree.LxmlError, ValueError, UnicodeError):
        raise Unsure("lxml cannot parse the page") from None
    if root is None:
        raise Unsure("no element")
    if any(isinstance(n.tag, str) for n in (*root.itersiblings(), *root.itersiblings(preceding=True))):
        raise Unsure("markup after </html>: bs4's tree holds a second root the lxml tree keeps apart")
    if any(_ODD_SPACE.search(v) for v in root.xpath("//@class")):
        raise Unsure("a class attribute holds a space XPath does not split on")
    return root


# ---------------------------------------------------------------- selectors

def _simple(node, scoped: bool, qualified: bool = False) -> bool:
    """Whether a parsed selector is built only of the parts whose cssselect XPath selects what
    soupsieve selects: a tag (not html; * only with a class, id, attribute...), .class, #id, [attr],
    :nth-of-type/:nth-child, :has(...), and (outside a block) the descendant and child combinators."""
    if isinstance(node, css.Element):
        return node.element != "html" and (qualified or node.element not in (None, "*"))
    if isinstance(node, (css.Class, css.Hash)):
        return _simple(node.selector, scoped, True)
    if isinstance(node, css.Attrib):
        return node.operator == "exists" and node.namespace is None and _simple(node.selector, scoped, True)
    if isinstance(node, css.Function):
        return node.name in ("nth-of-type", "nth-child") and _simple(node.selector, scoped, True)
    if isinstance(node, css.Relation):  # :has(td), :has(> td): looks only inside the element
        return _simple(node.selector, scoped, True) and all(
            combinator.value in (" ", ">") and _simple(sub.parsed_tree, True) for combinator, sub in node.arguments)
    if isinstance(node, css.CombinedSelector):
        # Inside a block soupsieve matches the whole chain against the page, XPath only within the block.
        return not scoped and node.combinator in (" ", ">") and _simple(node.selector, scoped) \
            and _simple(node.subselector, scoped)
    return False


@lru_cache(maxsize=1024)
def _compiled(selector: str, scoped: bool):
    """The XPath of a selector (relative to a block when scoped), or None where soupsieve must read it."""
    try:
        parsed = css.parse(selector)
    except Exception:  # noqa: BLE001 - cssselect.SelectorError and friends: soupsieve judges it
        return None
    try:
        if not parsed or any(p.pseudo_element is not None or not _simple(p.parsed_tree, scoped) for p in parsed):
            return None
        path = _TRANSLATOR.css_to_xpath(selector, prefix="descendant::" if scoped else "descendant-or-self::")
        return lxml.etree.XPath(path)
    except Exception:  # noqa: BLE001 - a form cssselect cannot translate, or a cssselect of another shape
        return None


def select(root, selector: str) -> list:
    """soup.select(selector) over the page whose root this is."""
    path = _compiled(selector, False)
    if path is None:
        raise Unsure(f"selector {selector!r}")
    return path(root)


def select_in(block, selector: str) -> list:
    """block.select(selector): the block's descendants it matches (the page checked by select())."""
    path = _compiled(selector, True)
    if path is None:
        raise Unsure(f"selector {selector!r}")
    return path(block)


def can_select(selector: str, *, scoped: bool) -> bool:
    return _compiled(selector, scoped) is not None


# ---------------------------------------------------------------- reading

def text(el) -> str:
    """el.get_text(" ", strip=True) of the same element in BeautifulSoup's tree."""
    if el.tag in _STRING_CONTAINERS:
        raise Unsure("text of a script, style or template")
    return " ".join(s for s in (t.strip() for t in _TEXT(el)) if s)


def attr(el, name: str) -> str | None:
    """el.get(name) as bs4 gives it, a list attribute ("class", "rel") joined with spaces."""
    value = el.get(name)
    if value is not None and (name in _LIST_ATTRS.get("*", ()) or name in _LIST_ATTRS.get(el.tag, ())):
        return " ".join(_NONSPACE.findall(value))
    return value


_FIRST_LINK = lxml.etree.XPath("descendant::a[@href][1]")


def first_link(el):
    """el.find("a", href=True): the first link inside el, or None."""
    found = _FIRST_LINK(el)
    return found[0] if found else None


def _string(value: str, parent_tag) -> str:
    if value.strip(_ASCII_SPACES) == "":
        return "\n" if "\n" in value else " "  # bs4 keeps a whitespace-only string as one space or newline
    return value if parent_tag in _RAW_TEXT else EntitySubstitution.substitute_xml(value)


def _open(el) -> str:
    parts = []
    for key, value in sorted((k, attr(el, k)) for k in el.attrib.keys()):
        parts.append(f"{key}={EntitySubstitution.quoted_attribute_value(EntitySubstitution.substitute_xml(value))}")
    empty = el.tag in _VOID and len(el) == 0 and not el.text
    return "<" + el.tag + (" " + " ".join(parts) if parts else "") + ("/>" if empty else ">")


def _render(el, out: list[str]) -> None:
    tag = el.tag
    if tag is lxml.etree.Comment:
        out.append("<!--" + (el.text or "") + "-->")
        return
    if not isinstance(tag, str) or tag in _PRESERVE or tag == "meta":
        raise Unsure("markup bs4 renders by rules of its own")
    out.append(_open(el))
    if el.text:
        out.append(_string(el.text, tag))
    for child in el:
        _render(child, out)
        if child.tail:
            out.append(_string(child.tail, tag))
    if not (tag in _VOID and len(el) == 0 and not el.text):
        out.append("</" + tag + ">")


def decode_contents(el) -> str:
    """el.decode_contents() of the same element in BeautifulSoup's tree."""
    if not isinstance(el.tag, str) or el.tag in _PRESERVE or any(a.tag in _PRESERVE for a in el.iterancestors()):
        raise Unsure("inside <pre> or <textarea>")
    out: list[str] = []
    if el.text:
        out.append(_string(el.text, el.tag))
    for child in el:
        _render(child, out)
        if child.tail:
            out.append(_string(child.tail, el.tag))
    return "".join(out)


def decode(el) -> str:
    """str(el) of the same element in BeautifulSoup's tree."""
    if not isinstance(el.tag, str) or el.tag == "meta":
        raise Unsure("markup bs4 renders by rules of its own")
    inner = decode_contents(el)
    if el.tag in _VOID and len(el) == 0 and not el.text:
        return _open(el)
    return _open(el) + inner + "</" + el.tag + ">"


def fragment_text(markup: str) -> str:
    """BeautifulSoup(markup, "lxml").get_text(" ", strip=True)."""
    if not markup.strip():
        return ""  # lxml builds nothing of blank text; bs4's document then holds at most blank strings
    root = parse(markup)
    return " ".join(s for s in (t.strip() for t in _TEXT(root)) if s)


def lines(el) -> list[str]:
    """The texts of el cut at its <br>s, as the adapters cut decode_contents() and read each part."""
    out = []
    for part in _BR.split(decode_contents(el)):
        value = fragment_text(part)
        if value:
            out.append(value)
    return out
