"""sources.parse.tree reads a page as BeautifulSoup(text, "lxml") reads it: the same elements, texts,
attribute values, markup and lines, and the same elements picked by each selector it takes on. The
page adapters rely on it to give the same records from the cheaper tree (else they read with bs4),
so a new lxml, bs4, soupsieve or cssselect that reads a real page otherwise fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.etree
import pytest
from bs4 import BeautifulSoup

from aggregator.collect.fetch.decode import decode
from sources.parse import tree
from tests.conftest import corpus_files

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = sorted(p for folder in ("html", "jsonld", "listings", "encoding") for p in (FIXTURES / folder).glob("*.html"))
PAGES += corpus_files("html")
pytestmark = pytest.mark.filterwarnings("ignore::bs4.MarkupResemblesLocatorWarning")  # a line that is a URL
SELECTORS = ["a", "a[href]", "li a", "ul > li", "div.event", ".event h3", "td:nth-of-type(2)", "tr:has(> td)",
             "tr:has(td)", "h2, h3", "[itemscope]", "#main", "p:nth-child(2)", "span.date", ".vevent .dtstart"]


def _pages() -> list:
    return list(_read(PAGES))


def _read(paths):
    for path in paths:
        text = decode(path.read_bytes(), "text/html")
        try:
            root = tree.parse(text)
        except tree.Unsure:
            continue  # read by BeautifulSoup in the adapters
        yield path, BeautifulSoup(text, "lxml"), root


READ = _pages()


@pytest.mark.parametrize("path, soup, root", READ, ids=lambda v: v.name if isinstance(v, Path) else "")
def test_every_element_of_a_page_reads_as_beautifulsoup_reads_it(path, soup, root):
    tags = soup.find_all(True)
    elements = list(root.iter(tag=lxml.etree.Element))
    assert [t.name for t in tags] == [e.tag for e in elements], f"{path.name}: the trees differ"
    for tag, el in zip(tags, elements):
        for name, value in tag.attrs.items():
            assert tree.attr(el, name) == (" ".join(value) if isinstance(value, list) else value)
        try:
            assert tree.text(el) == tag.get_text(" ", strip=True)
            assert tree.decode_contents(el) == tag.decode_contents()
            assert tree.decode(el) == str(tag)
            bs4_lines = [BeautifulSoup(part, "lxml").get_text(" ", strip=True)
                         for part in re.split(r"<br\s*/?>", tag.decode_contents(), flags=re.I)]
            assert tree.lines(el) == [line for line in bs4_lines if line]
        except tree.Unsure:
            continue  # <pre>, <script>...: the adapters read these with bs4


@pytest.mark.parametrize("path, soup, root", READ, ids=lambda v: v.name if isinstance(v, Path) else "")
def test_a_selector_picks_the_elements_soupsieve_picks(path, soup, root):
    position = {id(t): i for i, t in enumerate(soup.find_all(True))}
    index = {e: i for i, e in enumerate(root.iter(tag=lxml.etree.Element))}
    body, body_tag = root.find("body"), soup.body
    for selector in SELECTORS:
        assert [index[e] for e in tree.select(root, selector)] == [position[id(t)] for t in soup.select(selector)]
        if body is not None and body_tag is not None and " " not in selector and ">" not in selector:
            assert [index[e] for e in tree.select_in(body, selector)] == \
                [position[id(t)] for t in body_tag.select(selector)]


@pytest.mark.parametrize("selector", ["+ p", "~ p.date", ":scope > td", "a:first-child", "*", "html body",
                                      "a[href^=http]", "p::text", "li:not(.x)", "a:has(+ b)"])
def test_a_selector_cssselect_could_read_otherwise_is_left_to_soupsieve(selector):
    root = tree.parse("<html><body><p class='date'>March 3</p></body></html>")
    with pytest.raises(tree.Unsure):
        tree.select(root, selector)
