"""Knowledge-base Markdown to safe HTML, and to the plain text the search index holds.

Two layers, each maintained elsewhere. markdown-it-py parses CommonMark (with GitHub's
tables and strikethrough) with raw HTML off, so `<script>` or `<img onerror=...>` in an
article is shown as the text it is, and it already refuses `javascript:`, `vbscript:`,
`file:` and most `data:` links. nh3 (the Rust sanitiser ammonia) then cleans the HTML as
if it were hostile, so that nothing the parser lets through, now or in a later release,
reaches a page:

- tags: text structure only (headings, paragraphs, lists, emphasis, code, quotes, tables,
  rules, line breaks, links, images); never script, style, iframe, object, form or svg,
  and the content of script and style is dropped with them;
- attributes: `href` and `title` on links, `src`, `alt` and `title` on images, `start` on
  ordered lists, `class="language-…"` on code and `text-align` in a table cell's style;
  no `on*`, no other `style`, no `id` or `class`;
- links: `http`, `https` and `mailto`, or relative to the page; every link gets
  `rel="noopener noreferrer"`;
- images: only from Tierline itself (a path starting with one `/`). An image elsewhere
  would tell a third party who read the article and when (and the pages' CSP refuses
  it anyway), and `data:` images are refused: an article is text, and its images, if
  any, are served by the app. A refused image keeps its alt text.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

TAGS = frozenset(
    {
        *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote"),
        *("ul", "ol", "li", "strong", "em", "s", "del", "code", "pre", "a", "img"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    }
)
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+-]{1,40}")
# A path on this site: one slash, then anything but a second slash or a backslash (which
# browsers read as a slash: `/\evil.example` is another host).
_SAME_SITE_PATH = re.compile(r"/(?![/\\])")


def _attribute(element: str, attribute: str, value: str) -> str | None:
    """What nh3 keeps of an attribute it allows: None drops it."""
    if element == "img" and attribute == "src":
        return value if _SAME_SITE_PATH.match(value) else None
    if element == "code" and attribute == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    return value


CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags={"script", "style"},
    attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
    attribute_filter=_attribute,
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    filter_style_properties={"text-align"},
    strip_comments=True,
)


def sanitize(html: str) -> Markup:
    """Any HTML cleaned to what an article may hold (the module's rules)."""
    return Markup(CLEANER.clean(html))


def render(markdown: str) -> Markup:
    """An article's Markdown as HTML that is safe to put in a page as it is."""
    return sanitize(PARSER.render(markdown))


def _inline_text(token: Token) -> list[str]:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.extend(_inline_text(child))  # its alt text
    return parts


def plain_text(markdown: str) -> str:
    """The words a reader sees, without markup or link targets: what search indexes and
    what its snippets quote. One line per block."""
    blocks: list[str] = []
    for token in PARSER.parse(markdown):
        if token.type == "inline":
            blocks.append("".join(_inline_text(token)))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
    return "\n".join(block for block in blocks if block.strip())
