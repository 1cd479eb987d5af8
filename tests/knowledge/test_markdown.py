"""Article Markdown to HTML: what a page may show, and nothing that runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from web.markdown import LINK_REL, TAGS, plain_text, render, sanitize


@dataclass
class Parsed(HTMLParser):
    """Every element of an HTML fragment with its attributes, and its text."""

    elements: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def attributes(self, tag: str, name: str) -> list[str]:
        return [attrs[name] for found, attrs in self.elements if found == tag and name in attrs]


def parsed(html: str) -> Parsed:
    result = Parsed()
    result.feed(html)
    result.close()
    return result


def assert_inert(html: str) -> Parsed:
    """Nothing in the HTML runs script, loads a frame or styles the page."""
    found = parsed(html)
    assert found.tags() <= TAGS, found.tags() - TAGS
    for tag, attrs in found.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in {"style", "srcdoc", "formaction"} or tag in {"th", "td"}, name
            assert "javascript:" not in value.lower().replace("\t", ""), (tag, name, value)
    for rel in found.attributes("a", "rel"):
        assert rel == LINK_REL
    return found


HOSTILE_MARKDOWN = """# Help <script>alert('title')</script>

<script>alert(1)</script>

<img src=x onerror="alert(2)">

<iframe src="https://evil.example"></iframe>

[click](javascript:alert(3)) [upper](JaVaScRiPt:alert(4)) <javascript:alert(5)>
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==) [vb](vbscript:msgbox)

![pixel](https://tracker.example/p.gif) ![inline](data:image/png;base64,iVBORw0KGgo=)
"""


def test_script_event_handlers_and_script_links_are_neutralised() -> None:
    html = str(render(HOSTILE_MARKDOWN))
    found = assert_inert(html)
    assert "script" not in found.tags() and "iframe" not in found.tags()
    assert found.attributes("a", "href") == []  # none of those links survives as a link
    assert found.attributes("img", "src") == []  # nor any image from elsewhere
    # Raw HTML in an article is shown as the text it is.
    text = "".join(found.text)
    assert "<script>alert(1)</script>" in text
    assert '<img src=x onerror="alert(2)">' in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>after",
        '<img src="/a.png" onerror="alert(1)">',
        '<a href="javascript:alert(1)" onclick="alert(2)">x</a>',
        '<a href="java\tscript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        "<svg onload=alert(1)><circle /></svg>",
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
        "<style>body { display: none }</style>",
        '<p style="position: fixed; top: 0">cover</p>',
        '<form action="https://evil.example"><input name="password"></form>',
        '<object data="evil.swf"></object><embed src="evil.swf">',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<img src="//evil.example/p.gif"><img src="/\\evil.example/p.gif">',
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        '<td style="text-align: right; background: url(javascript:alert(1))">c</td>',
    ],
)
def test_the_sanitiser_refuses_what_the_parser_might_let_through(hostile: str) -> None:
    html = str(sanitize(hostile))
    assert_inert(html)
    assert "alert" not in "".join(value for _, a in parsed(html).elements for value in a.values())
    assert "<script" not in html and "<style" not in html
    for image in parsed(html).attributes("img", "src"):
        assert image.startswith("/") and not image.startswith(("//", "/\\"))


def test_ordinary_articles_keep_their_structure() -> None:
    markdown = """## Exporting large reports

Exports over **1,000 rows** time out. Try *this*:

1. Open [the export page](https://help.example/exports?a=1&b=2) or [ours](/portal/kb/3).
2. Write to [support](mailto:support@example.com).

| setting | value |
|:--|--:|
| timeout | 300 |

```python
export(rows=5000)
```

![diagram](/static/export-diagram.png "How exports run")

> Note: ~~old~~ `new` way.
"""
    html = str(render(markdown))
    found = assert_inert(html)
    assert {"h2", "strong", "em", "ol", "li", "a", "table", "th", "td", "pre", "code"} <= (
        found.tags()
    )
    assert {"img", "blockquote", "s"} <= found.tags()
    assert found.attributes("a", "href") == [
        "https://help.example/exports?a=1&b=2",
        "/portal/kb/3",
        "mailto:support@example.com",
    ]
    assert found.attributes("img", "src") == ["/static/export-diagram.png"]
    assert found.attributes("code", "class") == ["language-python"]
    assert found.attributes("td", "style") == ["text-align:left", "text-align:right"]


def test_plain_text_is_what_a_reader_reads() -> None:
    markdown = (
        "# Exports\n\nUse [the export page](https://help.example/x) and `--rows`.\n\n"
        "```\nexport --all\n```\n\n![a diagram](/d.png)\n"
    )
    assert plain_text(markdown) == (
        "Exports\nUse the export page and --rows.\nexport --all\na diagram"
    )
