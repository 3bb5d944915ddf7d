"""HTML descriptions to plain text, with beautifulsoup4 (never regular expressions).

Shop exports carry descriptions as HTML (Shopify's ``Body (HTML)``, many Merchant Center
feeds). The text encoder, the chat and the web page want the words: block elements
(paragraphs, list items, headings, line breaks) become line breaks, scripts and styles are
dropped, entities are decoded, and runs of blank space collapse.
"""

from __future__ import annotations

import warnings

_BLOCKS = (
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "article",
    "blockquote",
    "dd",
    "dt",
    "hr",
)
_DROP = ("script", "style", "template", "noscript", "head", "iframe", "object")


def looks_like_html(text: str) -> bool:
    """Whether ``text`` may hold markup or entities worth parsing (a ``<`` or ``&``)."""
    return "<" in text or "&" in text


def html_to_text(text: str) -> str:
    """Plain text of an HTML fragment.

    Args:
        text: An HTML fragment (or plain text, returned with blank space tidied).

    Returns:
        The visible words: one line per block element, single spaces inside a line, no
        leading or trailing blank space.
    """
    if not looks_like_html(text):
        return " ".join(text.split())
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        # A short description such as "see example.com" makes bs4 warn that it looks like a
        # URL; it is text all the same.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    lines = (" ".join(line.split()) for line in soup.get_text().split("\n"))
    return "\n".join(line for line in lines if line)
